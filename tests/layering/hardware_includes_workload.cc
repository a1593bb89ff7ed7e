// Must NOT compile: a model layer cannot include the workload layer above it.
#include "workloads/workload.h"
