"""Stage predict: each deployment's predictions on the real inputs, made in a child process so a
crashing runtime is a recorded outcome."""
