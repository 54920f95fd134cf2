#include "tvdeploy/cli.hpp"

#include <charconv>
#include <cmath>
#include <exception>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {

bool ParsedArgs::has(const std::string& name) const { return values_.count(name) != 0; }

const std::string& ParsedArgs::get(const std::string& name) const { return get_all(name).front(); }

const std::vector<std::string>& ParsedArgs::get_all(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    throw UsageError("option --" + name + " is required");
  }
  return it->second;
}

std::int64_t ParsedArgs::get_int(const std::string& name) const {
  const std::string& text = get(name);
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw UsageError("option --" + name + " expects an integer, got '" + text + "'");
  }
  return value;
}

double ParsedArgs::get_double(const std::string& name) const {
  const std::string& text = get(name);
  double value = 0.0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty() || !std::isfinite(value)) {
    throw UsageError("option --" + name + " expects a finite number, got '" + text + "'");
  }
  return value;
}

void ParsedArgs::add(const std::string& name, std::string value) {
  values_[name].push_back(std::move(value));
}

ArgParser::ArgParser(std::string program, std::string summary, std::string positional_metavar,
                     std::size_t min_positionals, std::size_t max_positionals)
    : program_(std::move(program)),
      summary_(std::move(summary)),
      positional_metavar_(std::move(positional_metavar)),
      min_positionals_(min_positionals),
      max_positionals_(max_positionals) {}

ArgParser& ArgParser::add(OptionSpec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

std::string ArgParser::usage() const {
  std::ostringstream out;
  out << "usage: " << program_;
  for (const auto& s : specs_) {
    const std::string item = "--" + s.name + " " + s.metavar;
    out << " " << (s.required ? item : "[" + item + "]");
    if (s.repeatable) out << " [" << item << " ...]";
  }
  if (max_positionals_ > 0) {
    out << " " << positional_metavar_;
    if (max_positionals_ > 1) out << " [" << positional_metavar_ << " ...]";
  }
  out << "\n\n" << summary_ << "\n\noptions:\n  --help\n      show this message and exit\n";
  for (const auto& s : specs_) {
    out << "  --" << s.name << " " << s.metavar << "\n      " << s.help;
    if (s.required) out << " (required)";
    if (s.repeatable) out << " (repeatable)";
    if (!s.default_value.empty()) out << " (default: " << s.default_value << ")";
    out << "\n";
  }
  return out.str();
}

ParsedArgs ArgParser::parse(int argc, const char* const* argv) const {
  ParsedArgs result;
  bool only_positionals = false;  // after "--"
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (only_positionals || arg.size() < 2 || arg.rfind("--", 0) != 0) {
      if (!only_positionals && arg.size() > 1 && arg[0] == '-') {
        throw UsageError("unknown option '" + arg + "'");
      }
      result.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    if (arg == "--help") {
      result.help_requested = true;
      return result;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const OptionSpec* spec = find(name);
    if (spec == nullptr) {
      throw UsageError("unknown option '--" + name + "'");
    }
    if (!value) {
      if (i + 1 >= argc) {
        throw UsageError("option --" + name + " needs a value");
      }
      value = argv[++i];
    }
    if (result.has(name) && !spec->repeatable) {
      throw UsageError("option --" + name + " given more than once");
    }
    result.add(name, *value);
  }
  for (const auto& s : specs_) {
    if (!result.has(s.name)) {
      if (s.required) throw UsageError("missing required option --" + s.name);
      if (!s.default_value.empty()) result.add(s.name, s.default_value);
    }
  }
  if (result.positionals.size() < min_positionals_) {
    throw UsageError("expected at least " + std::to_string(min_positionals_) + " " +
                     positional_metavar_ + " argument(s)");
  }
  if (result.positionals.size() > max_positionals_) {
    throw UsageError("unexpected argument '" + result.positionals[max_positionals_] + "'");
  }
  return result;
}

const OptionSpec* ArgParser::find(const std::string& name) const {
  for (const auto& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

int run_main(const ArgParser& parser, int argc, const char* const* argv,
             const std::function<void(const ParsedArgs&)>& body) {
  try {
    ParsedArgs args = parser.parse(argc, argv);
    if (args.help_requested) {
      std::cout << parser.usage();
      return kExitOk;
    }
    body(args);
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << parser.usage();
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << describe(e) << "\n";
    return kExitRuntimeError;
  } catch (...) {
    std::cerr << "error: unknown exception\n";
    return kExitRuntimeError;
  }
}

std::int64_t thread_option(const ParsedArgs& args, const std::string& name) {
  if (!args.has(name)) return 0;
  const std::int64_t n = args.get_int(name);
  if (n < 0) {
    throw UsageError("option --" + name + " must be >= 0 (0 = library default), got " +
                     std::to_string(n));
  }
  if (n > std::numeric_limits<int>::max()) {
    throw UsageError("option --" + name + " is too large: " + std::to_string(n));
  }
  return n;
}

}  // namespace tvdeploy
