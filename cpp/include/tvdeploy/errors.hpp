// Errors of the tvdeploy programs: the exit codes, one exception type per kind of failure
// (run_main in cli.hpp maps each to its exit code), and helpers that phrase the messages.
#pragma once

#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tvdeploy {

namespace fs = std::filesystem;

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;

// Bad command line: reported with the usage text, exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Unusable input file (data, sidecar, labels, model): exit code 1.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Requested device cannot be used: exit code 1.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writing results failed: exit code 1.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The path in single quotes, as error messages name files.
std::string quoted(const fs::path& p);

// The message of e; for a c10::Error without the C++ backtrace its what() carries.
std::string describe(const std::exception& e);

}  // namespace tvdeploy
