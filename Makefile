# The two commands of the README. Both run the idempotent set-up first.
#   make demo   set-up + build + the main job on the bundled demo
#   make test   set-up + build + every test
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: all setup build test demo sanitize clean

all: build

setup:
	bash scripts/setup.sh

build: setup
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	ctest --preset $(PRESET) -j $(JOBS)

# Until `lipsync render` lands, the demo shows what exists: the server configuration check and
# the architecture-exact test models running through ONNX Runtime.
demo: build
	$(BUILD_DIR)/src/cli/lipsync config check examples/server.yaml
	ctest --preset $(PRESET) -R TestModels

# ASan+UBSan build and tests (make sanitize PRESET=tsan for ThreadSanitizer).
sanitize:
	$(MAKE) test PRESET=$(if $(filter release,$(PRESET)),asan,$(PRESET))

clean:
	rm -rf build
