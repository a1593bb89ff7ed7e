// The queue backend's factory (sim/queue_engine.cc): lcsim's own event queue and max-min solver.
#pragma once

#include <memory>

#include "sim/engine.h"

namespace lcsim::sim {

/// A new engine of the "queue" backend (make_engine("queue")).
std::unique_ptr<Engine> make_queue_engine();

}  // namespace lcsim::sim
