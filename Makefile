# Two commands do all the set-up on a fresh Debian 12 machine: `make demo` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
DEMO ?= scenarios/examples/gpt-1.3b-dp-h100.yaml
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
WERROR := $(if $(CI),ON,OFF)

.PHONY: deps configure build demo test bench clean docs

deps:
	@bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake -S . -B $(BUILD_DIR) $(GENERATOR) \
	  -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLCSIM_WERROR=$(WERROR) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	$(BUILD_DIR)/apps/lcsim run $(DEMO) -o out/demo

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) out

docs: build
	bash scripts/update-docs.sh $(BUILD_DIR)
