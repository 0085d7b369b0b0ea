# The CUDA backend (DYNAGRAPH_BACKEND=cuda): csrc/cuda/*.cu compiled by nvcc
# into dg_engine, linked with cudart and cuBLAS. A CUDA build is a complete
# CPU engine too.
#
# nvcc: CMAKE_CUDA_COMPILER when given, else `nvcc` on PATH (a system CUDA),
# else the pip wheels cuda-toolkit[nvcc,cudart,cublas,cccl]==13.0.* found in
# this Python's site-packages (nvidia/cu13/). The wheel's tree has lib/ where
# nvcc and FindCUDAToolkit look for lib64/, so a folder of symlinks in the
# build tree stands in for the toolkit root.

set(DYNAGRAPH_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING
    "GPU architectures for nvcc (CI compiles one to save time)")

if(NOT CMAKE_CUDA_COMPILER)
  find_program(DG_SYSTEM_NVCC nvcc)
  if(DG_SYSTEM_NVCC)
    set(CMAKE_CUDA_COMPILER "${DG_SYSTEM_NVCC}")
  else()
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c
              "import os, nvidia; print(next(os.path.join(p, 'cu13') for p in nvidia.__path__ if os.path.isdir(os.path.join(p, 'cu13', 'bin'))))"
      OUTPUT_VARIABLE DG_CU13 OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE DG_CU13_RESULT ERROR_QUIET)
    if(NOT DG_CU13_RESULT EQUAL 0 OR NOT EXISTS "${DG_CU13}/bin/nvcc")
      message(FATAL_ERROR "DYNAGRAPH_BACKEND=cuda: no nvcc found (none on PATH, no CMAKE_CUDA_COMPILER, and no "
                          "pip wheel: pip install 'cuda-toolkit[nvcc,cudart,cublas,cccl]==13.0.3.0')")
    endif()
    # A toolkit root of symlinks: bin/, include/, nvvm/ as they are, lib64/ file by file from lib/.
    set(DG_CUDA_ROOT "${CMAKE_BINARY_DIR}/cuda-toolkit")
    file(MAKE_DIRECTORY "${DG_CUDA_ROOT}/lib64")
    foreach(sub bin include nvvm)
      if(EXISTS "${DG_CU13}/${sub}" AND NOT EXISTS "${DG_CUDA_ROOT}/${sub}")
        file(CREATE_LINK "${DG_CU13}/${sub}" "${DG_CUDA_ROOT}/${sub}" SYMBOLIC)
      endif()
    endforeach()
    file(GLOB DG_CU13_LIBS "${DG_CU13}/lib/*")
    foreach(lib ${DG_CU13_LIBS})
      get_filename_component(name "${lib}" NAME)
      if(NOT EXISTS "${DG_CUDA_ROOT}/lib64/${name}")
        file(CREATE_LINK "${lib}" "${DG_CUDA_ROOT}/lib64/${name}" SYMBOLIC)
      endif()
    endforeach()
    # The wheels ship versioned shared objects only: the unversioned names the linker wants.
    foreach(lib cudart cublas cublasLt)
      file(GLOB DG_VERSIONED "${DG_CU13}/lib/lib${lib}.so.*")
      if(DG_VERSIONED AND NOT EXISTS "${DG_CUDA_ROOT}/lib64/lib${lib}.so")
        list(GET DG_VERSIONED 0 DG_FIRST)
        file(CREATE_LINK "${DG_FIRST}" "${DG_CUDA_ROOT}/lib64/lib${lib}.so" SYMBOLIC)
      endif()
    endforeach()
    set(CMAKE_CUDA_COMPILER "${DG_CUDA_ROOT}/bin/nvcc")
    set(CUDAToolkit_ROOT "${DG_CUDA_ROOT}")
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
# Only the files that call into csrc/cuda/ see DG_HAVE_CUDA: the rest of the engine
# compiles exactly as in a CPU build (and so comes from the compiler cache).
set_source_files_properties(csrc/core/device.cc csrc/device/dispatch.cc PROPERTIES COMPILE_DEFINITIONS DG_HAVE_CUDA)
# nvcc's own warnings are errors; the host compiler sees -Wall through -Xcompiler.
target_compile_options(dg_engine PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xcompiler=-Wall -O3 --expt-relaxed-constexpr>)
target_link_libraries(dg_engine PUBLIC CUDA::cudart CUDA::cublas)
message(STATUS "dynagraph: CUDA backend with ${CMAKE_CUDA_COMPILER} for ${CMAKE_CUDA_ARCHITECTURES}")
