// Every workload, registered by name (called from scenarios/catalog.cc).
#include "workloads/benchmarks/nccl_tests.h"
#include "workloads/benchmarks/storage_io.h"
#include "workloads/benchmarks/traffic.h"
#include "workloads/traces/chakra_replay.h"
#include "workloads/training/data_parallel.h"
#include "workloads/training/megatron.h"

namespace lcsim::wl {

void register_workloads(Registry<WorkloadFactory>& r) {
  r.add("chakra_replay", "replays Chakra execution traces (one file on every rank, or one per rank) as dependency graphs",
        []() -> std::unique_ptr<Workload> { return std::make_unique<ChakraReplay>(); });
  r.add("gpt_data_parallel", "GPT-style transformer, pure data parallel, bucketed gradient reduction",
        []() -> std::unique_ptr<Workload> { return std::make_unique<GptDataParallel>(); });
  r.add("megatron", "Megatron-LM style training: tensor, sequence, context, expert, pipeline and data parallelism",
        []() -> std::unique_ptr<Workload> { return std::make_unique<MegatronTraining>(); });
  r.add("nccl_tests", "one collective over a range of sizes, printed as nccl-tests prints it",
        []() -> std::unique_ptr<Workload> { return std::make_unique<NcclTests>(); });
  r.add("storage_io", "checkpoint saves, restores or dataset reads striped over the storage servers, on the run's own "
                      "network (shared with every other job's traffic)",
        []() -> std::unique_ptr<Workload> { return std::make_unique<StorageIo>(); });
  r.add("traffic", "synthetic flows for load-balancing studies: a permutation or an all-to-all of large flows",
        []() -> std::unique_ptr<Workload> { return std::make_unique<Traffic>(); });
}

}  // namespace lcsim::wl
