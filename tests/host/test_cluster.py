"""The SLURM allocation a benchmark records (tvdeploy.host.cluster), from a real scontrol record."""

from tvdeploy.host.cluster import exclusive_from_fields, job_fields, slurm_allocation

# `scontrol show job --oneliner` of an `sbatch --exclusive --gpus=1` job (SLURM 22.05), shortened.
EXCLUSIVE_JOB = (
    "JobId=7 JobName=wrap UserId=root(0) GroupId=root(0) JobState=RUNNING Reason=None "
    "Partition=gpu AllocNode:Sid=localhost:6812 NodeList=node3 BatchHost=node3 NumNodes=1 "
    "NumCPUs=16 TRES=cpu=16,mem=20000M,node=1,billing=16 NtasksPerN:B:S:C=0:0:*:* "
    "OverSubscribe=NO Contiguous=0 TresPerJob=gres:gpu:1\n"
)
ENV = {
    "SLURM_JOB_ID": "7",
    "SLURMD_NODENAME": "node3",
    "SLURM_JOB_PARTITION": "gpu",
    "SLURM_CPUS_ON_NODE": "16",
    "SLURM_JOB_GPUS": "0",
}


def test_fields_of_a_oneliner_record():
    fields = job_fields(EXCLUSIVE_JOB)
    assert fields["JobId"] == "7" and fields["TresPerJob"] == "gres:gpu:1"
    assert fields["NtasksPerN:B:S:C"] == "0:0:*:*" and fields["OverSubscribe"] == "NO"


def test_exclusive_only_when_the_node_is_not_shared():
    assert exclusive_from_fields({"OverSubscribe": "NO"}) is True
    assert exclusive_from_fields({"OverSubscribe": "OK"}) is False
    # --exclusive=user: other jobs of the same user may still share the node.
    assert exclusive_from_fields({"OverSubscribe": "USER"}) is False
    assert exclusive_from_fields({}) is None


def test_allocation_inside_a_slurm_job():
    asked = []
    allocation = slurm_allocation(ENV, show_job=lambda job: asked.append(job) or EXCLUSIVE_JOB)
    assert asked == ["7"]
    assert allocation == {
        "scheduler": "slurm",
        "job_id": "7",
        "node": "node3",
        "partition": "gpu",
        "cpus_on_node": 16,
        "gpus": "0",
        "exclusive": True,
    }


def test_unknown_exclusivity_when_scontrol_fails():
    allocation = slurm_allocation(ENV, show_job=lambda job: None)
    assert allocation["node"] == "node3" and allocation["exclusive"] is None


def test_no_allocation_outside_slurm():
    assert slurm_allocation({"HOME": "/root"}, show_job=lambda job: EXCLUSIVE_JOB) is None
