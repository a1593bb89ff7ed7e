// Must NOT compile: policies see lcsim_core only, never the engine (tests/CMakeLists.txt expects a failure).
#include "sim/engine.h"
