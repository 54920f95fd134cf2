// Class labels: a UTF-8 text file, one label per line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tvdeploy/cli.hpp"

namespace tvdeploy {

namespace fs = std::filesystem;

// One label per line (UTF-8); a trailing newline does not add a label. InputError if the file
// cannot be read, is empty, or has a line that is not valid UTF-8.
std::vector<std::string> load_labels(const fs::path& path);

// --labels of a task whose results name classes. infer offers every task's options, so it is
// optional to the parser and required by that task alone: its make_writer reads it with
// required_labels, which fails with the parser's words.
OptionSpec labels_option(std::string_view task);

// The --labels path; UsageError when it was not given.
fs::path required_labels(const ParsedArgs& args);

}  // namespace tvdeploy
