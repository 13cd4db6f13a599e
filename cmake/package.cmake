# package.cmake - the man pages. Included by the top-level CMakeLists.txt after the install
# rules of the binary, the plugins and the SDK.
include_guard(GLOBAL)

# ---- man pages: iogate(1), iogate.toml(5), with the version filled in, gzip'd as Debian
# wants them (-n: no name or time stamp, so the bytes depend on the text alone).
find_program(IOGATE_GZIP gzip REQUIRED)
set(IOGATE_MAN_GZ)
foreach(page iogate.1 iogate.toml.5)
  configure_file(${PROJECT_SOURCE_DIR}/docs/man/${page}.in ${PROJECT_BINARY_DIR}/man/${page} @ONLY)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/man/${page}.gz
    COMMAND ${IOGATE_GZIP} -9nc ${PROJECT_BINARY_DIR}/man/${page} > ${PROJECT_BINARY_DIR}/man/${page}.gz
    DEPENDS ${PROJECT_BINARY_DIR}/man/${page}
    VERBATIM)
  list(APPEND IOGATE_MAN_GZ ${PROJECT_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(man ALL DEPENDS ${IOGATE_MAN_GZ})
install(FILES ${PROJECT_BINARY_DIR}/man/iogate.1.gz DESTINATION share/man/man1)
install(FILES ${PROJECT_BINARY_DIR}/man/iogate.toml.5.gz DESTINATION share/man/man5)

