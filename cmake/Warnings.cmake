# Warnings for our own code only, linked as $<BUILD_INTERFACE:mirrorkv_warnings>.
add_library(mirrorkv_warnings INTERFACE)
target_compile_options(mirrorkv_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter
  # Designated initializers that leave defaulted fields out are the intended style.
  -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # The thread-safety annotations in engine/base/mutex.h are checked by clang only.
  target_compile_options(mirrorkv_warnings INTERFACE -Wthread-safety -Werror=thread-safety)
endif()
