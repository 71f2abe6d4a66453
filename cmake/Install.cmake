# `cmake --install` produces a package that another CMake project consumes with
# find_package(mirrorkv) and target_link_libraries(app PRIVATE mirrorkv::mirrorkv).
include(CMakePackageConfigHelpers)

set(MIRRORKV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mirrorkv)
set(MIRRORKV_INSTALL_TARGETS mirrorkv mirrorkv_base mirrorkv_engine)
foreach(target mirrorkv_snapshot mirrorkv_replication mirrorkv_server_lib)
  if(TARGET ${target})
    list(APPEND MIRRORKV_INSTALL_TARGETS ${target})
  endif()
endforeach()

install(TARGETS ${MIRRORKV_INSTALL_TARGETS}
  EXPORT mirrorkvTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mirrorkv DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT mirrorkvTargets NAMESPACE mirrorkv:: DESTINATION ${MIRRORKV_CMAKE_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mirrorkvConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mirrorkvConfig.cmake
  INSTALL_DESTINATION ${MIRRORKV_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mirrorkvConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mirrorkvConfig.cmake
              ${PROJECT_BINARY_DIR}/mirrorkvConfigVersion.cmake
  DESTINATION ${MIRRORKV_CMAKE_DIR})
