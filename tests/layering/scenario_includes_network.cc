// Must compile: the control case for the two probes above (scenarios may include any layer below).
#include "models/network/collectives.h"
#include "sim/engine.h"
