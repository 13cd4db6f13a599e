# package.cmake - the man pages, and the Debian package (`make package`, CPack's DEB
# generator): /usr/bin/iogate, the bundled plugins in /usr/lib/iogate/plugins, the SDK
# (headers, iogate.pc, the CMake package), /etc/iogate/iogate.toml as a conffile, the systemd
# unit, the man pages, copyright and changelog. Included by the top-level CMakeLists.txt
# after the install rules of the binary, the plugins and the SDK.
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

# ---- what only the package installs: component "system", left out of a plain
# `cmake --install` (which must not write to /etc, and whose prefix may be anywhere).
set(IOGATE_PACKAGE_MAINTAINER "iogate maintainers <maintainers@iogate.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

# The packaged configuration: config/iogate.toml (every key, documented), with the two paths
# a system service needs instead of a source tree's.
file(READ ${PROJECT_SOURCE_DIR}/config/iogate.toml _iogate_toml)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/config/iogate.toml)
foreach(pair "dir = \"\"|dir = \"/usr/lib/iogate/plugins\""
             "database = \"var/iogate.db\"|database = \"/var/lib/iogate/iogate.db\"")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  string(FIND "${_iogate_toml}" "\n${from}\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "package.cmake: config/iogate.toml has no line '${from}' to change "
                        "for /etc/iogate/iogate.toml")
  endif()
  string(REPLACE "\n${from}\n" "\n${to}\n" _iogate_toml "${_iogate_toml}")
endforeach()
string(PREPEND _iogate_toml
  "# Installed by the Debian package: the service (iogate.service) reads this file, keeps\n"
  "# the SQLite file in its state directory /var/lib/iogate and loads plugins from\n"
  "# /usr/lib/iogate/plugins. Every key: iogate.toml(5).\n#\n")
file(WRITE ${PROJECT_BINARY_DIR}/package/iogate.toml "${_iogate_toml}")
unset(_iogate_toml)

string(TIMESTAMP IOGATE_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${PROJECT_SOURCE_DIR}/packaging/changelog.in ${PROJECT_BINARY_DIR}/package/changelog
               @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/package/changelog.gz
  COMMAND ${IOGATE_GZIP} -9nc ${PROJECT_BINARY_DIR}/package/changelog
          > ${PROJECT_BINARY_DIR}/package/changelog.gz
  DEPENDS ${PROJECT_BINARY_DIR}/package/changelog
  VERBATIM)
add_custom_target(package_files ALL DEPENDS ${PROJECT_BINARY_DIR}/package/changelog.gz)

install(FILES ${PROJECT_BINARY_DIR}/package/iogate.toml DESTINATION /etc/iogate
        COMPONENT system EXCLUDE_FROM_ALL)
install(FILES packaging/iogate.service DESTINATION lib/systemd/system
        COMPONENT system EXCLUDE_FROM_ALL)
install(FILES packaging/copyright ${PROJECT_BINARY_DIR}/package/changelog.gz
        DESTINATION share/doc/iogate COMPONENT system EXCLUDE_FROM_ALL)

# ---- CPack: one .deb, build/iogate_VERSION_ARCH.deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iogate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${IOGATE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The default install (binary, plugins, SDK, man pages) and the package-only files.
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};iogate;ALL;/"
                                 "${PROJECT_BINARY_DIR};iogate;system;/")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: from the libraries the binary and the plugins link (dpkg-shlibdeps), and the
# helper the maintainer scripts call.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers (>= 1.52)")
# The first line is the synopsis; CPack indents the others and turns the empty one into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Socket.IO v4 compatible real-time gateway with C plugins
iogate serves a REST API and Socket.IO (Engine.IO v4 over long-polling and
WebSocket) on one port, for the official Socket.IO clients. It authenticates
sockets from a JWT and joins each to its user's room; events and their REST
routes come from plugins loaded through a stable C ABI. The bundled
notifications plugin stores notifications in SQLite or PostgreSQL. Nodes form
a fleet through Redis, in the format of @socket.io/redis-adapter.

This package holds the server, its systemd unit (Type=notify, sandboxed), the
bundled plugins and the plugin SDK (headers, pkg-config and CMake package).")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/conffiles ${PROJECT_SOURCE_DIR}/packaging/postinst
    ${PROJECT_SOURCE_DIR}/packaging/prerm ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
