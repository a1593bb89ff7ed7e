// The one Kubernetes API-server call lcsim-k8s-extender makes: a pod's v1 Binding (POST
// /api/v1/namespaces/NS/pods/NAME/binding, as kube-scheduler's default binder does), over plain HTTP/1.1 to the
// address given with --api-server. No TLS and no credentials: point it at `kubectl proxy` (which adds both) or at
// an API server's insecure loopback port in a test cluster.
#pragma once

#include <string>

#include "policies/k8s_gang.h"

namespace lcsim::app {

/// Posts the Binding to `api_server` (http://HOST:PORT[/PREFIX]); returns "" on 200/201, else an error naming the
/// server, the pod and what went wrong (connection refused, timed out, or the status and the Status message the
/// API server returned). `timeout_s` bounds connect, send and receive each.
std::string post_k8s_binding(const std::string& api_server, const policy::K8sBinding& b, double timeout_s = 10);

/// The JSON body of that call.
std::string k8s_binding_body(const policy::K8sBinding& b);

}  // namespace lcsim::app
