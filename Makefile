# iogate - the two commands: `make run` and `make test`; and `make demo`, the web demo.
# Everything else here is a step of those.

BUILD      ?= build
ASAN_BUILD ?= build-asan
RELEASE_BUILD ?= build-release
# `make run` serves CONFIG; by default a development configuration that `make run` writes
# once with `iogate genconfig` (config/iogate.toml and a fresh JWT secret), so tokens work.
DEV_CONFIG := var/iogate.dev.toml
CONFIG     ?= $(DEV_CONFIG)
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run demo test deps test-deps demo-deps build examples build-asan build-release node-deps package clean

run: build
	@scripts/run.sh $(BUILD)/iogate $(CONFIG) $(if $(filter $(DEV_CONFIG),$(CONFIG)),--create)

# The web demo (examples/web-demo, development only) with the notifications plugin on
# 127.0.0.1:3000 (IOGATE_DEMO_PORT=N for another port); Ctrl-C stops it.
demo: build examples demo-deps
	@scripts/demo.sh $(BUILD)

test: test-deps build examples build-asan build-release node-deps
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOGATE_WERROR=ON -DIOGATE_SYSTEMD=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The Debian package, $(BUILD)/iogate_VERSION_ARCH.deb (cmake/package.cmake).
package: build
	cd $(BUILD) && cpack -G DEB

# The example plugins, built out of tree against the SDK installed from each build
# (the way a plugin author builds), for tests/node/examples.test.mjs.
examples: build
	scripts/build-examples.sh $(BUILD)

# Release only builds here: its optimiser finds warnings the other builds do not.
build-release: deps
	cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DIOGATE_WERROR=ON -DIOGATE_SYSTEMD=ON >/dev/null
	cmake --build $(RELEASE_BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIOGATE_SANITIZE=ON -DIOGATE_WERROR=ON -DIOGATE_SYSTEMD=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	scripts/build-examples.sh $(ASAN_BUILD)

NPM_CI = if [ -f tests/node/package-lock.json ]; then \
	    cd tests/node && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }; \
	fi

node-deps: test-deps
	@$(NPM_CI)

# What the demo needs besides the build: Node.js and npm, for the socket.io browser client.
demo-deps: deps
	@scripts/install-deps.sh --demo
	@$(NPM_CI)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD)
