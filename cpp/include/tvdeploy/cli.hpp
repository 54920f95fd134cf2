// Command lines of the tvdeploy programs: option specs, parsing, the usage text, and run_main,
// which maps --help and errors to output and exit codes.
//
// The parser is hand-written on purpose: the project installs its tools with pip, and no
// well-kept C++ argument library is installable that way (CLI11 and cxxopts are not on PyPI;
// nlohmann-json, the one header library used, is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tvdeploy {

struct OptionSpec {
  std::string name;     // without the leading "--"
  std::string metavar;  // e.g. "PATH"; shown in the usage text
  std::string help;
  bool required = false;
  std::string default_value;  // empty: no default
  bool repeatable = false;    // may be given more than once (ParsedArgs::get_all)
};

class ParsedArgs {
 public:
  bool help_requested = false;
  std::vector<std::string> positionals;

  bool has(const std::string& name) const;
  // The value of --name; UsageError if it was not given and has no default.
  const std::string& get(const std::string& name) const;
  // Every value of a repeatable --name, in command-line order; UsageError if it was not given.
  const std::vector<std::string>& get_all(const std::string& name) const;
  // The value of --name as a whole decimal integer, else UsageError.
  std::int64_t get_int(const std::string& name) const;
  // The value of --name as a finite number, else UsageError.
  double get_double(const std::string& name) const;
  // Adds a value of --name (the only one, unless the option is repeatable).
  void add(const std::string& name, std::string value);

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

// Accepts "--name value" and "--name=value"; every option takes a value except --help, and
// only a repeatable one may be given more than once.
class ArgParser {
 public:
  ArgParser(std::string program, std::string summary, std::string positional_metavar,
            std::size_t min_positionals, std::size_t max_positionals);

  ArgParser& add(OptionSpec spec);
  std::string usage() const;
  // The options (defaults filled in) and positionals; UsageError for a bad command line.
  ParsedArgs parse(int argc, const char* const* argv) const;

 private:
  const OptionSpec* find(const std::string& name) const;

  std::string program_;
  std::string summary_;
  std::string positional_metavar_;
  std::size_t min_positionals_;
  std::size_t max_positionals_;
  std::vector<OptionSpec> specs_;
};

// Runs body(); maps --help / UsageError / runtime errors to output and exit codes.
int run_main(const ArgParser& parser, int argc, const char* const* argv,
             const std::function<void(const ParsedArgs&)>& body);

// Thread options: absent or 0 keeps LibTorch's default; negative is a usage error.
std::int64_t thread_option(const ParsedArgs& args, const std::string& name);

}  // namespace tvdeploy
