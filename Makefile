# iogate - the two commands: `make run` and `make test`.
# Everything else here is a step of those two.

BUILD      ?= build
ASAN_BUILD ?= build-asan
RELEASE_BUILD ?= build-release
CONFIG     ?= config/iogate.toml
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test deps test-deps build examples build-asan build-release node-deps package clean

run: build
	./$(BUILD)/iogate --config $(CONFIG)

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

node-deps: test-deps
	@if [ -f tests/node/package-lock.json ]; then \
	    cd tests/node && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }; \
	fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD)
