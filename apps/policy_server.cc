// lcsim-policy-server: serves every registered scheduling policy over gRPC (proto/policy_api.proto), so a
// cluster control plane asks the same code the simulator runs. Prints "listening on HOST:PORT" once ready
// (port 0 picks a free one) and serves until killed.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "apps/server_flags.h"
#include "policies/policy_wire.h"
#include "proto/policy_api.grpc.pb.h"
#include "sim/error.h"

namespace {

const char* kHelp = R"(usage: lcsim-policy-server [--listen HOST:PORT]

Serves lcsim's scheduling policies (lcsim schedule --list) over gRPC, one instance of each for the server's life:
service lcsim.policy_api.SchedulingPolicy, rpc Schedule(ScheduleRequest) returns (ScheduleReply)
(proto/policy_api.proto, docs/scheduling.md). A bad request (an unknown policy, an inconsistent snapshot)
gets a reply with `error` set. Default --listen 127.0.0.1:0 (a free port); the chosen address is printed.
)";

class Service final : public lcsim::policy_api::SchedulingPolicy::Service {
 public:
  Service() { lcsim::policy::register_scheduling_policies(registry_); }
  grpc::Status Schedule(grpc::ServerContext*, const lcsim::policy_api::ScheduleRequest* request,
                        lcsim::policy_api::ScheduleReply* reply) override {
    try {
      lcsim::policy::ClusterSnapshot snapshot = lcsim::policy::from_proto(request->snapshot());
      std::string problem = lcsim::policy::snapshot_problem(snapshot);
      if (!problem.empty()) {
        reply->set_error("bad snapshot: " + problem);
        return grpc::Status::OK;
      }
      // One instance per policy for the server's life: a policy that keeps state between calls (gavel-lp's time
      // per kind) sees the control plane's snapshots in order, as in the replay. Calls are served one at a time.
      std::lock_guard<std::mutex> lock(mutex_);
      const auto& entry = registry_.get(request->policy());
      auto& policy = policies_[entry.name];
      if (!policy) policy = entry.factory();
      lcsim::policy::to_proto(policy->schedule(snapshot), reply->mutable_decisions());
    } catch (const lcsim::InputError& e) {
      reply->set_error(e.what());
    }
    return grpc::Status::OK;
  }

 private:
  lcsim::Registry<lcsim::policy::SchedulingPolicyFactory> registry_{"scheduling policy"};
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<lcsim::policy::SchedulingPolicy>> policies_;
};

}  // namespace

int main(int argc, char** argv) {
  lcsim::app::ServerFlags flags;
  const int status = lcsim::app::parse_server_flags(argc, argv, {"lcsim-policy-server", kHelp, false, ""}, flags);
  if (status >= 0) return status;
  const std::string& listen = flags.listen;
  Service service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "error: cannot listen on '%s'\n", listen.c_str());
    return 2;
  }
  std::printf("listening on %s:%d\n", flags.host.c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
