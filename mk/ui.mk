# slog ui's browser tests (tests/test_ui.py) drive Debian's chromium through Playwright, which never downloads
# a browser of its own. `make test` installs chromium when it is missing and this user can (root with apt-get);
# otherwise, or when the install fails, it says so, and those tests skip, naming the reason.

CHROMIUM := /usr/bin/chromium

TEST_PREREQS += $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
			|| echo "make: apt-get could not install chromium: slog ui's browser tests will skip"; \
	else \
		echo "make: $(CHROMIUM) is missing and apt-get cannot install it here (needs root): slog ui's browser tests will skip"; \
	fi
