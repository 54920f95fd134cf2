#include "tvdeploy/labels.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kLabelsOption = "labels";

}  // namespace

std::vector<std::string> load_labels(const fs::path& path) {
  using json = nlohmann::ordered_json;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError("cannot open labels file " + quoted(path));
  }
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (labels.empty() && line.rfind(kUtf8Bom, 0) == 0) line.erase(0, kUtf8Bom.size());
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      (void)json(line).dump();  // validates UTF-8 now rather than when writing output
    } catch (const json::exception&) {
      throw InputError("labels file " + quoted(path) + " line " +
                       std::to_string(labels.size() + 1) + " is not valid UTF-8");
    }
    labels.push_back(std::move(line));
  }
  if (in.bad()) {
    throw InputError("error reading labels file " + quoted(path));
  }
  if (labels.empty()) {
    throw InputError("labels file " + quoted(path) + " is empty");
  }
  return labels;
}

OptionSpec labels_option(std::string_view task) {
  return {std::string(kLabelsOption), "L.txt",
          "class labels, one per line (C lines; required by --task " + std::string(task) + ")",
          false, ""};
}

fs::path required_labels(const ParsedArgs& args) {
  const std::string option(kLabelsOption);
  if (!args.has(option)) {
    throw UsageError("missing required option --" + option);
  }
  return args.get(option);
}

}  // namespace tvdeploy
