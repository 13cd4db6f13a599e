# llhttp: a system library where one is installed, otherwise the C sources that
# Debian's node-llhttp package ships, compiled here into a static library.
find_path(LLHTTP_SYSTEM_INCLUDE llhttp.h)
find_library(LLHTTP_SYSTEM_LIBRARY llhttp)
if(LLHTTP_SYSTEM_INCLUDE AND LLHTTP_SYSTEM_LIBRARY)
  message(STATUS "llhttp: system library ${LLHTTP_SYSTEM_LIBRARY}")
  add_library(llhttp_static INTERFACE)
  target_include_directories(llhttp_static INTERFACE ${LLHTTP_SYSTEM_INCLUDE})
  target_link_libraries(llhttp_static INTERFACE ${LLHTTP_SYSTEM_LIBRARY})
else()
  set(LLHTTP_SOURCE_DIR /usr/share/llhttp CACHE PATH "llhttp C sources (Debian node-llhttp)")
  set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "llhttp header (Debian node-llhttp)")
  if(NOT EXISTS ${LLHTTP_SOURCE_DIR}/llhttp.c OR NOT EXISTS ${LLHTTP_INCLUDE_DIR}/llhttp.h)
    message(FATAL_ERROR "llhttp not found: install Debian's node-llhttp (scripts/install-deps.sh)")
  endif()
  message(STATUS "llhttp: compiling sources from ${LLHTTP_SOURCE_DIR}")
  add_library(llhttp_static STATIC ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c
                                   ${LLHTTP_SOURCE_DIR}/http.c)
  # Generated third-party code: our warning policy is not applied to it.
  target_compile_options(llhttp_static PRIVATE -w)
  target_include_directories(llhttp_static PUBLIC ${LLHTTP_INCLUDE_DIR})
endif()
