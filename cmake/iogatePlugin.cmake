# iogatePlugin.cmake - iogate_add_plugin(), the one way a plugin is built.
#
# The in-tree plugins and the out-of-tree ones use this same function: in the
# iogate source tree it is include()d by the top-level CMakeLists.txt; an
# installed SDK ships it in lib/cmake/iogate/ and find_package(iogate) includes
# it. A plugin sees only the SDK headers (the target iogate::sdk) and never
# links against the iogate binary: everything it calls reaches it through the
# host API table handed to its init().
#
#   iogate_add_plugin(NAME
#                     SOURCES src.c ...
#                     [LIBRARIES lib ...]          # e.g. PkgConfig::JANSSON, jansson, m
#                     [OUTPUT_DIRECTORY dir])      # default ${CMAKE_BINARY_DIR}/plugins
#
# builds the MODULE library NAME.so (no "lib" prefix) as C11 with hidden
# visibility: only iogate_plugin_entry (IOG_PLUGIN / IOG_EXPORT) is exported.
# NAME is also the CMake target, so target_* commands work on it afterwards.
include_guard(GLOBAL)

# The SDK target. From an installed package, iogateTargets.cmake has imported
# it already; in the source tree it is defined here, from include/.
if(NOT TARGET iogate::sdk)
  get_filename_component(_iogate_src_include "${CMAKE_CURRENT_LIST_DIR}/../include" ABSOLUTE)
  if(NOT EXISTS "${_iogate_src_include}/iogate/iogate.h")
    message(FATAL_ERROR "iogatePlugin.cmake: iogate::sdk is not defined; "
                        "use find_package(iogate) instead of including this file")
  endif()
  add_library(iogate_sdk INTERFACE)
  target_include_directories(iogate_sdk INTERFACE $<BUILD_INTERFACE:${_iogate_src_include}>
                                                  $<INSTALL_INTERFACE:include>)
  set_target_properties(iogate_sdk PROPERTIES EXPORT_NAME sdk)
  add_library(iogate::sdk ALIAS iogate_sdk)
  unset(_iogate_src_include)
endif()

# Reject, at link time, a plugin that refers to a symbol nothing provides (for
# example a host function called directly instead of through the API table):
# dlopen(RTLD_NOW) would refuse it anyway, later and with a vaguer message.
# Sanitizer builds leave their runtime's symbols to the executable, so the
# check is off there.
option(IOGATE_PLUGIN_NO_UNDEFINED "Link plugins with -Wl,--no-undefined" ON)

function(iogate_add_plugin NAME)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "iogate_add_plugin(${NAME}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  # The same rule as the descriptor's name: it is also the [plugin.NAME] table
  # and the name listed in [plugins] load.
  if(NOT NAME MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "iogate_add_plugin: invalid plugin name '${NAME}' (use [a-z0-9_-]+)")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "iogate_add_plugin(${NAME}): SOURCES is required")
  endif()
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/plugins")
  endif()

  add_library(${NAME} MODULE ${ARG_SOURCES})
  set_target_properties(${NAME} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    OUTPUT_NAME "${NAME}"
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  # Multi-config generators: the same directory whatever the configuration.
  foreach(config ${CMAKE_CONFIGURATION_TYPES})
    string(TOUPPER "${config}" config)
    set_target_properties(${NAME} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY_${config} "${ARG_OUTPUT_DIRECTORY}")
  endforeach()
  target_link_libraries(${NAME} PRIVATE iogate::sdk ${ARG_LIBRARIES})

  # -fsanitize may be in the cache's flags or in add_compile_options() /
  # add_link_options() (as IOGATE_FUZZ sets it): look at both.
  get_directory_property(_iogate_dir_opts COMPILE_OPTIONS)
  get_directory_property(_iogate_dir_link_opts LINK_OPTIONS)
  set(_iogate_all_flags "${CMAKE_C_FLAGS} ${CMAKE_SHARED_LINKER_FLAGS} ${CMAKE_MODULE_LINKER_FLAGS}")
  string(APPEND _iogate_all_flags " ${_iogate_dir_opts} ${_iogate_dir_link_opts}")
  if(IOGATE_PLUGIN_NO_UNDEFINED AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
     AND NOT IOGATE_SANITIZE
     AND NOT "${_iogate_all_flags}" MATCHES "-fsanitize")
    target_link_options(${NAME} PRIVATE "LINKER:--no-undefined")
  endif()
endfunction()
