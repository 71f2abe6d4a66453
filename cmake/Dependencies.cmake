# Every dependency comes from Debian 12's packages (scripts/install-deps.sh installs them).
find_package(absl CONFIG REQUIRED)  # 20220623 ships an exact-version config: no version argument
find_package(PkgConfig REQUIRED)    # xxhash and lz4 ship only .pc files
pkg_check_modules(xxhash REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(lz4 REQUIRED IMPORTED_TARGET liblz4)
find_package(Threads REQUIRED)
if(MIRRORKV_BUILD_TESTS)
  find_package(GTest 1.12 CONFIG REQUIRED)
  include(GoogleTest)
endif()
if(MIRRORKV_BUILD_BENCHMARKS)
  find_package(benchmark 1.7 CONFIG REQUIRED)
endif()
