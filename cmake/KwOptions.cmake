# Project-wide compile options as INTERFACE targets, never global flags (cmake_template style).
add_library(kw_options INTERFACE)
add_library(kw_warnings INTERFACE)

target_compile_options(kw_warnings INTERFACE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                             -Wimplicit-fallthrough)
if(KW_WARNINGS_AS_ERRORS)
  target_compile_options(kw_warnings INTERFACE -Werror)
endif()

target_compile_options(kw_options INTERFACE -fno-omit-frame-pointer)
if(NOT KW_SANITIZERS STREQUAL "")
  target_compile_options(kw_options INTERFACE -fsanitize=${KW_SANITIZERS} -fno-sanitize-recover=all)
  target_link_options(kw_options INTERFACE -fsanitize=${KW_SANITIZERS})
endif()
if(KW_BUILD_FUZZERS)
  # Libraries get coverage instrumentation; only fuzz executables link the libFuzzer main.
  target_compile_options(kw_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  target_compile_definitions(kw_options INTERFACE _FORTIFY_SOURCE=2)
endif()
target_compile_options(kw_options INTERFACE -fstack-protector-strong)

# kw_library(NAME DIR [LIBS ...]): a static library from every .cc directly in DIR.
# Globbing lets each module add files without touching shared CMake lists.
function(kw_library name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cc)
  list(FILTER srcs EXCLUDE REGEX ".*/main\\.cc$")
  if(NOT srcs)  # a module still being written: header-only until its first .cc lands
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE kw_options ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC kw_options PRIVATE kw_warnings)
  target_link_libraries(${name} PUBLIC ${ARGN})
endfunction()
