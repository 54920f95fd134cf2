"""Stage results: records to tables (pandas), figures (matplotlib), the summary, the goals
judged from paired ratios, and runs from other machines. Torch-free, but for the pictures of
what deployments produced (pictures: the task adapters draw them)."""
