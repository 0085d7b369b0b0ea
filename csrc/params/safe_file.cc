#include "params/safe_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace dg {
namespace {

const char kTempMark[] = ".tmp-";

std::string folder_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The process's umask without changing it (umask(2) would, racing other threads).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::strtol(line.c_str() + 6, nullptr, 8));
  return 022;
}

bool same_file(int fd, const std::string& path) {
  struct stat open_one, named;
  return fstat(fd, &open_one) == 0 && lstat(path.c_str(), &named) == 0 && open_one.st_ino == named.st_ino &&
         open_one.st_dev == named.st_dev;
}

// A temporary name's random tail: mkstemp's 6 characters here, Python's 8.
bool is_temp_tail(const char* tail) {
  size_t n = std::strlen(tail);
  if (n < 6 || n > 8) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = tail[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void write_all(int fd, const std::string& text, const std::string& path) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IOError(path + ": write failed: " + std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// A new temporary beside `path`, created and locked by this writer.
int create_locked_temp(const std::string& path, std::string& tmp) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string pattern = path + kTempMark + "XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    int fd = mkstemp(name.data());
    if (fd < 0) throw IOError(path + ": cannot create a temporary file beside it: " + std::strerror(errno));
    tmp = name.data();
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    // A concurrent save may have taken it for a dead writer's and removed it
    // between mkstemp and flock: then take another name.
    if (same_file(fd, tmp)) return fd;
    ::close(fd);
  }
  throw IOError(path + ": cannot create a temporary file beside it (removed by another process each time)");
}

}  // namespace

void check_path(const std::string& path, const char* func) {
  if (path.empty()) throw ValueError(std::string(func) + ": fname is empty (a file name is needed)");
  size_t nul = path.find('\0');
  if (nul != std::string::npos)
    throw ValueError(std::string(func) + ": fname contains a NUL character at position " + std::to_string(nul) +
                     " ('" + path.substr(0, nul) + "\\x00...'); file names cannot hold NUL");
}

void remove_stale_temporaries(const std::string& path) {
  std::string folder = folder_of(path), prefix = name_of(path) + kTempMark;
  DIR* dir = opendir(folder.c_str());
  if (!dir) return;  // the write that follows reports the folder's problem
  while (struct dirent* entry = readdir(dir)) {
    if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) != 0 ||
        !is_temp_tail(entry->d_name + prefix.size()))
      continue;
    std::string candidate = folder + "/" + entry->d_name;
    int fd = ::open(candidate.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    // Unlocked means its writer is gone (a live writer holds the lock until its rename).
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && same_file(fd, candidate)) ::unlink(candidate.c_str());
    ::close(fd);
  }
  closedir(dir);
}

void write_file_atomically(const std::string& path, const std::string& text) {
  remove_stale_temporaries(path);
  std::string tmp;
  int fd = create_locked_temp(path, tmp);
  try {
    if (fchmod(fd, 0666 & ~current_umask()) != 0)  // mkstemp makes 0600 files; give the usual mode
      throw IOError(path + ": cannot set the new file's mode: " + std::strerror(errno));
    write_all(fd, text, path);
    if (fsync(fd) != 0) throw IOError(path + ": cannot flush the new file to disk: " + std::strerror(errno));
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw IOError(path + ": cannot move the new file into place: " + std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    ::close(fd);
    throw;
  }
  ::close(fd);  // releases the lock only after the rename
  int folder = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder >= 0) {  // makes the rename itself durable (best effort: not every system allows it)
    fsync(folder);
    ::close(folder);
  }
}

}  // namespace dg
