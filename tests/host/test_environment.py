"""What every result records about the machine, the software and the configuration."""

from tvdeploy.host.environment import capture, config_sha256, machine_fingerprint


def test_environment_capture_counts_result_machines():
    here = machine_fingerprint()
    assert len(here["id"]) == 12 and here["cpu"]["cores"] >= 1 and here["versions"]["torch"]
    other = dict(here, id="0123456789ab")
    env = capture({"models": ["m"]}, ".", [here, here, other])
    assert env["result_environments"] == {here["id"]: 2, "0123456789ab": 1}
    assert env["config_sha256"] == config_sha256({"models": ["m"]}) != config_sha256({"models": ["n"]})
