// Chakra execution-trace replay: every rank runs the nodes of its trace (one file replicated to every rank,
// or the ASTRA-sim / Chakra per-rank set <prefix>.<rank>.et) as a dependency graph on the simulated cluster.
// Host operators run on the rank's CPU stream and device kernels on its compute stream, one at a time in
// ready order; collectives run through the collectives library on a communication stream per process group,
// in issue order, the k-th collective of a group matched across the group's ranks; sends and receives are
// matched by (source, destination, tag) in order and move their bytes over the fabric. Compute takes the
// recorded duration or the part's cost model (num_ops FLOPs and tensor bytes). docs/chakra-replay.md has the
// rules and the limits.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "workloads/rendezvous.h"
#include "workloads/traces/chakra.h"
#include "workloads/workload.h"

namespace lcsim::wl {

struct ChakraReplayConfig {
  std::string trace;                 // one file for every rank, or the prefix of <prefix>.<rank>.et
  int ranks = 0;                     // 0: every file of the set, or every GPU for one replicated file
  std::string compute = "recorded";  // recorded: duration_micros; model: the part's cost model
  std::string precision = "bf16";    // data type whose peak runs num_ops (compute: model)
  std::string dependencies = "data_and_ctrl";  // data_and_ctrl, or data: ctrl_deps ignored
  int iterations = 1;
  void visit(Section& s);
};

class ChakraReplay final : public Workload {
 public:
  ChakraReplay();
  ~ChakraReplay() override;
  void visit(Section& s) override;
  void copy_config(const Workload& from) override {
    const auto& c = same_type<ChakraReplay>(from);
    config_ = c.config_;
    trace_location_ = c.trace_location_;
  }
  void validate(const std::vector<Gpu>& gpus, Section& s) override;
  void start(RunContext& ctx) override;
  /// Throws InputError when the replay stopped on a deadlock or on collectives that do not match.
  void report(MetricSet& m) const override;
  double progress() const override;
  std::string describe() const override;
  std::vector<std::string> table() const override;

  const ChakraReplayConfig& config() const { return config_; }

  struct Graph;  // one trace file prepared for replay
  struct Rank;   // one rank's replay state

 private:
  /// Loads and checks the trace files for `n` ranks; problems go to `s` under the key `trace`.
  void load(uint32_t n, Section& s);
  // The replay: a node that became ready goes to `work_`; settle() runs the work list and starts streams.
  void ready(uint32_t rank, uint32_t op);
  void complete(uint32_t rank, uint32_t op);
  void settle();
  void start_streams(Rank& r);
  void issue_collective(Rank& r, uint32_t op);
  void issue_send(Rank& r, uint32_t op);
  void post_recv(Rank& r, uint32_t op);
  void account(Rank& r);
  void fail(const std::string& message);
  std::string deadlock_message() const;
  /// `p2p`: a message's edge (send -> its receive), id and whether this is the receive. `joined`: a
  /// collective's edges from the other members' ops that released their copies of it.
  void span(const Rank& r, uint32_t op, const std::string& track, Duration begin,
            std::vector<std::pair<std::string, std::string>> args = {}, uint64_t p2p = 0, bool p2p_in = false,
            const std::vector<FlowStep>& joined = {}) const;
  /// The flow id of the edge from the op that released a member's copy of a collective (by the graph edge
  /// whose index over the traced ranks and iterations is `edge`: Rank::edge_index) to traced rank `to`'s
  /// copy: bit 31 set (the graph's and the messages' ids have it clear in any trace under 2^31 edges), one id
  /// per (edge, member).
  uint64_t cross_rank_flow(uint64_t edge, uint32_t to) const;
  /// Adds to `flows` the edges from `op` (a timed op on traced rank `r`, about to complete) to every traced
  /// member's copy of each collective it releases, also through instant nodes.
  void member_flows(const Rank& r, uint32_t op, std::vector<FlowStep>& flows) const;
  mutable std::vector<uint32_t> walk_;  // member_flows' nodes to visit
  /// The flow id of a message from `src` to `dst` (0 unless both ends are on the timeline).
  uint64_t message_flow(uint32_t src, uint32_t dst);
  uint64_t messages_traced_ = 0;

  ChakraReplayConfig config_;
  SourceLocation trace_location_;
  bool per_rank_files_ = false;
  uint32_t ranks_ = 0;
  std::vector<std::shared_ptr<const Graph>> graphs_;  // per rank (shared when replicated)
  std::vector<std::string> group_names_;              // process groups; "" = every rank
  std::vector<std::vector<uint32_t>> group_ranks_;

  RunContext* ctx_ = nullptr;
  Duration started_;
  /// Reports each rank's compute and exposed communication since the start (for power).
  void emit_busy() const;
  std::vector<std::unique_ptr<Rank>> run_;
  std::vector<std::pair<uint32_t, uint32_t>> work_;  // (rank, op) just ready
  std::set<uint32_t> dirty_;                         // ranks whose streams may start something
  // (group, k): the ranks that issued the group's k-th collective, each with its op; run once all have.
  using Issued = Rendezvous<std::pair<uint32_t, uint64_t>, uint32_t>;
  Issued collectives_;
  struct Channel {
    uint64_t arrived = 0;  // messages that arrived and wait for their receive
    std::vector<uint64_t> arrived_flows;  // their flow ids (messages_flow), oldest first from arrived_head
    size_t arrived_head = 0;
    std::vector<std::tuple<uint32_t, uint32_t, Duration>>
        waiting;  // receives posted first (rank, op, posted)
    size_t head = 0;
  };
  std::map<std::tuple<uint32_t, uint32_t, int64_t>, Channel> channels_;  // (src, dst, tag)
  uint64_t in_flight_ = 0;  // engine activities of the replay not yet completed
  uint64_t nodes_done_ = 0;
  uint64_t nodes_total_ = 0;
  uint32_t ranks_done_ = 0;
  uint64_t collective_calls_ = 0, p2p_messages_ = 0;
  std::string failure_;
  Duration failed_at_;
};

}  // namespace lcsim::wl
