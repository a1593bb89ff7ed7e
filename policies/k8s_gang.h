// The rest of the Kubernetes scheduler-extender protocol beyond filter/prioritize (k8s_extender.h): the `bind` and
// `preempt` verbs, and gang admission of pod groups, with the state they need between calls (one instance per
// extender server). Field names as in k8s.io/kube-scheduler/extender/v1 (docs/scheduling.md).
//
// Gangs: a pod labelled lcsim.io/pod-group=NAME with the annotation lcsim.io/min-member=N belongs to group
// NAMESPACE/NAME of N members (each asking for the same GPUs). The first member filtered asks the policy to place
// all N members at once on the candidate nodes (one at a time, each taking its GPUs). If all N fit, the group is
// admitted and their nodes are reserved: members then pass the filter only on their group's reserved nodes, and
// other pods see those GPUs as taken. If not, every node fails (all or none: no member gets a node while the
// group cannot start whole). Bind consumes a member's reservation (refused for a member of a group that is not
// admitted, on a node its group holds no slot on, or on a node the member's own last filter call did not pass);
// when all N are bound the group's reservation ends. (A pod never filtered at all is unknown to the extender, as
// the bind arguments carry no labels: it binds as a pod outside any group.) An admitted
// group whose members have not all bound within the reservation timeout (default 300 s) loses its reserved slots
// (kube-scheduler gave up on a member, or it was deleted): the group goes back to waiting for admission, needing
// only its members not yet bound.
//
// Binding: with a binder (the extender's --api-server), bind makes kube-scheduler's call itself (the extender owns
// binding when its bindVerb is set): the binder POSTs a v1 Binding; an API-server error is the reply's Error and
// consumes no slot.
//
// Preempt trims kube-scheduler's victims per node: with the node's free GPUs (as last seen in a filter or
// prioritize call), the fewest victims that make room (NumPDBViolations: kube-scheduler's count for all of them, an
// upper bound), lowest priority first (then the most GPUs), never a member
// of a pod group (evicting one member stops the whole gang): a node that needs one is dropped, as is a node where
// evicting every victim would not make room.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "policies/k8s_extender.h"

namespace lcsim::policy {

/// A pod's binding, as the API server's pods/binding subresource takes it.
struct K8sBinding {
  std::string pod_namespace, pod_name, pod_uid, node;
};

struct K8sExtenderOptions {
  double reservation_timeout_s = 300;
  /// Seconds on a monotonic clock (default: std::chrono::steady_clock); tests pass their own.
  std::function<double()> clock = {};
  /// Makes the API-server call for a binding; returns "" on success, else the error. Unset: bind records only.
  std::function<std::string(const K8sBinding&)> binder = {};
};

class K8sExtender {
 public:
  explicit K8sExtender(SchedulingPolicy& policy, K8sExtenderOptions options = {});
  /// ExtenderArgs -> ExtenderFilterResult / HostPriorityList (as k8s_extender.h, with gangs and reservations).
  std::string filter(const std::string& body);
  std::string prioritize(const std::string& body);
  /// ExtenderBindingArgs {PodName, PodNamespace, PodUID, Node} -> ExtenderBindingResult {Error}.
  std::string bind(const std::string& body);
  /// ExtenderPreemptionArgs {Pod, NodeNameToVictims} -> ExtenderPreemptionResult {NodeNameToMetaVictims}.
  /// InputError for a body that cannot be mapped (the result has no error field).
  std::string preempt(const std::string& body);

  struct Group {
    uint32_t min_member = 0;
    uint32_t pod_gpus = 0;
    bool admitted = false;
    std::vector<std::string> reserved;  // one node name per member not yet bound
    std::set<std::string> bound;        // member pod UIDs bound so far
    double admitted_s = 0;              // when the reservation was made (the options' clock)
  };
  /// Pod groups with an admission or a member seen and not yet all bound, by NAMESPACE/NAME.
  const std::map<std::string, Group>& groups() const { return groups_; }
  /// Reservations released because their timeout passed, since start.
  uint64_t expired() const { return expired_; }

 private:
  HeldGpus held_except(const std::string& group) const;
  void remember(const ExtenderRequest& r);
  void expire();  // releases admitted groups' slots past the timeout; called first by every verb

  SchedulingPolicy& policy_;
  K8sExtenderOptions options_;
  uint64_t expired_ = 0;
  std::map<std::string, Group> groups_;
  std::map<std::string, std::string> member_of_;  // pod UID -> group
  std::map<std::string, std::set<std::string>> passed_;  // member pod UID -> nodes its last filter passed
  std::map<std::string, uint32_t> last_free_;     // node -> free GPUs as last seen
};

}  // namespace lcsim::policy
