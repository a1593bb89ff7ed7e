// Seeded random streams: one master seed; every consumer asks for its own stream by name and index, derived
// by hashing, so adding a consumer never shifts another's numbers. The engine (mt19937_64) and the
// distributions here are fully specified, so results are the same with every standard library.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

namespace lcsim {

/// splitmix64 finalizer: a well-mixed 64-bit hash step.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a over a name, for stream and hash derivation.
constexpr uint64_t hash_name(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

class RandomStream {
 public:
  explicit RandomStream(uint64_t seed) : engine_(seed) {}
  uint64_t next_u64() { return engine_(); }
  /// Uniform in [0, 1) from the top 53 bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next_u64() % n; }

 private:
  std::mt19937_64 engine_;
};

class RngFactory {
 public:
  explicit RngFactory(uint64_t master_seed) : seed_(master_seed) {}
  uint64_t seed() const { return seed_; }
  /// A stream for one consumer, e.g. stream("failure.gpu", gpu_id).
  RandomStream stream(std::string_view name, uint64_t index = 0) const {
    return RandomStream(mix64(mix64(seed_ ^ hash_name(name)) ^ index));
  }
  /// A stateless hash for decisions that must not depend on call order (e.g. ECMP).
  uint64_t hash(std::string_view name, uint64_t a, uint64_t b = 0, uint64_t c = 0) const {
    return mix64(mix64(mix64(mix64(seed_ ^ hash_name(name)) ^ a) ^ b) ^ c);
  }

 private:
  uint64_t seed_;
};

}  // namespace lcsim
