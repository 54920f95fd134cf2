// Class labels: a UTF-8 text file, one label per line.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tvdeploy {

namespace fs = std::filesystem;

// One label per line (UTF-8); a trailing newline does not add a label. InputError if the file
// cannot be read, is empty, or has a line that is not valid UTF-8.
std::vector<std::string> load_labels(const fs::path& path);

}  // namespace tvdeploy
