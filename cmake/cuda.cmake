# The CUDA backend (DYNAGRAPH_BACKEND=cuda): csrc/cuda/*.cu compiled by nvcc
# into dg_engine, linked with cudart and cuBLAS. A CUDA build is a complete
# CPU engine too.
#
# nvcc: CMAKE_CUDA_COMPILER when given (tools/gpu_check.sh gives a system
# nvcc), else the pip wheels cuda-toolkit[nvcc,cudart,cublas,cccl]==13.0.* in
# this Python's site-packages (nvidia/cu13/; the scikit-build-core override
# installs them for a CUDA build), else `nvcc` on PATH. The wheel's tree has lib/ where
# nvcc and FindCUDAToolkit look for lib64/, so a folder of symlinks in the
# build tree stands in for the toolkit root.

set(DYNAGRAPH_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING
    "GPU architectures for nvcc (CI compiles one to save time)")

set(DG_CUDA_ROOT "${CMAKE_BINARY_DIR}/cuda-toolkit")
if(NOT CMAKE_CUDA_COMPILER OR CMAKE_CUDA_COMPILER STREQUAL "${DG_CUDA_ROOT}/bin/nvcc")
  # The wheel (a build requirement of DYNAGRAPH_BACKEND=cuda, so present in any pip build) ...
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
            "import os, nvidia; print(next(os.path.join(p, 'cu13') for p in nvidia.__path__ if os.path.isdir(os.path.join(p, 'cu13', 'bin'))))"
    OUTPUT_VARIABLE DG_CU13 OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE DG_CU13_RESULT ERROR_QUIET)
  if(DG_CU13_RESULT EQUAL 0 AND EXISTS "${DG_CU13}/bin/nvcc")
    # A toolkit root of symlinks: include/ and nvvm/ as they are; bin/ and lib64/ (from lib/)
    # real folders of per-entry links, since nvcc finds its root as bin/.. (which, through
    # a linked bin/, would be the wheel's own folder, without lib64/).
    # Made anew at every configure: an isolated pip build's wheel lives in a temporary
    # folder, so links left by an earlier build may point nowhere.
    file(REMOVE_RECURSE "${DG_CUDA_ROOT}")
    file(MAKE_DIRECTORY "${DG_CUDA_ROOT}/lib64" "${DG_CUDA_ROOT}/bin")
    foreach(sub include nvvm)
      if(EXISTS "${DG_CU13}/${sub}")
        file(CREATE_LINK "${DG_CU13}/${sub}" "${DG_CUDA_ROOT}/${sub}" SYMBOLIC)
      endif()
    endforeach()
    foreach(pair "bin;bin" "lib;lib64")
      list(GET pair 0 from)
      list(GET pair 1 to)
      file(GLOB DG_ENTRIES "${DG_CU13}/${from}/*")
      foreach(entry ${DG_ENTRIES})
        get_filename_component(name "${entry}" NAME)
        file(CREATE_LINK "${entry}" "${DG_CUDA_ROOT}/${to}/${name}" SYMBOLIC)
      endforeach()
    endforeach()
    # The wheels ship versioned shared objects only: the unversioned names the linker wants.
    foreach(lib cudart cublas cublasLt)
      file(GLOB DG_VERSIONED "${DG_CU13}/lib/lib${lib}.so.*")
      if(DG_VERSIONED AND NOT EXISTS "${DG_CU13}/lib/lib${lib}.so")
        list(GET DG_VERSIONED 0 DG_FIRST)
        file(CREATE_LINK "${DG_FIRST}" "${DG_CUDA_ROOT}/lib64/lib${lib}.so" SYMBOLIC)
      endif()
    endforeach()
    set(CMAKE_CUDA_COMPILER "${DG_CUDA_ROOT}/bin/nvcc")
    set(CUDAToolkit_ROOT "${DG_CUDA_ROOT}")
  else()
    # ... else a system CUDA (tools/gpu_check.sh passes its nvcc as CMAKE_CUDA_COMPILER).
    find_program(DG_SYSTEM_NVCC nvcc)
    if(NOT DG_SYSTEM_NVCC)
      message(FATAL_ERROR "DYNAGRAPH_BACKEND=cuda: no nvcc found (no CMAKE_CUDA_COMPILER, no pip wheel -- "
                          "pip install 'cuda-toolkit[nvcc,cudart,cublas,cccl]==13.0.3.0' -- and none on PATH)")
    endif()
    set(CMAKE_CUDA_COMPILER "${DG_SYSTEM_NVCC}")
  endif()
endif()

# Before enable_language: CMake tests the compiler with these architectures.
set(CMAKE_CUDA_ARCHITECTURES "${DYNAGRAPH_CUDA_ARCHITECTURES}")
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
if(CCACHE_PROGRAM)
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

file(GLOB DG_CUDA_SOURCES CONFIGURE_DEPENDS csrc/cuda/*.cu)
target_sources(dg_engine PRIVATE ${DG_CUDA_SOURCES})
# dg_engine was made before CUDA was enabled, so it did not take CMAKE_CUDA_ARCHITECTURES.
set_property(TARGET dg_engine PROPERTY CUDA_ARCHITECTURES ${DYNAGRAPH_CUDA_ARCHITECTURES})
# Only the files that call into csrc/cuda/ see DG_HAVE_CUDA: the rest of the engine
# compiles exactly as in a CPU build (and so comes from the compiler cache).
set_source_files_properties(csrc/core/device.cc csrc/device/dispatch.cc csrc/device/pinned_host.cc PROPERTIES COMPILE_DEFINITIONS DG_HAVE_CUDA)
# nvcc's own warnings are errors; the host compiler sees -Wall through -Xcompiler.
target_compile_options(dg_engine PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xcompiler=-Wall -O3 --expt-relaxed-constexpr>)
target_link_libraries(dg_engine PUBLIC CUDA::cudart CUDA::cublas)
message(STATUS "dynagraph: CUDA backend with ${CMAKE_CUDA_COMPILER} for ${CMAKE_CUDA_ARCHITECTURES}")
