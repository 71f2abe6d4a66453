# MIRRORKV_SANITIZE=address builds everything with ASan+UBSan; =thread with TSan.
if(MIRRORKV_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(MIRRORKV_SANITIZE_ADDRESS)
elseif(MIRRORKV_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # Entries then come from malloc rather than the entry arena (engine/entry_arena.cc).
  add_compile_definitions(MIRRORKV_SANITIZE_THREAD)
elseif(NOT MIRRORKV_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MIRRORKV_SANITIZE must be '', 'address' or 'thread'")
endif()
