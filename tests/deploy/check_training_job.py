"""Deploys infra/training-job.yaml into a local moto server, reads the stack back, and checks on
the parsed template what moto does not keep (Cloud Map service discovery, the ECS services' and
task definitions' properties, the schedule's ECS parameters).

usage: check_training_job.py MOTO_ENDPOINT TEMPLATE
Prints one JSON object; exits 1 when a check fails.
"""
import json
import sys
import urllib.request

import boto3
from cfnlint.decode import decode

# Types moto accepts in a template but does not create (nor models, for egress rules): checked on
# the template instead.
MOTO_SKIPS = {"AWS::ServiceDiscovery::PrivateDnsNamespace", "AWS::ServiceDiscovery::Service", "AWS::EC2::SecurityGroupEgress"}

endpoint, template_path = sys.argv[1], sys.argv[2]
urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"))
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, cfn, ecs, efs, events, iam = (boto3.client(s, **kw) for s in ["ec2", "cloudformation", "ecs", "efs", "events", "iam"])
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][:2]]
template, problems = decode(template_path)
assert not problems, problems
res = template["Resources"]
# moto cannot create Cloud Map resources, nor resolve a reference to one: it deploys the template
# without them and the service's registry, which are checked on the template below.
deployable = json.loads(json.dumps(template))
for lid in [lid for lid, r in res.items() if r["Type"] in MOTO_SKIPS]:
    del deployable["Resources"][lid]
del deployable["Resources"]["TrackerService"]["Properties"]["ServiceRegistries"]
body = json.dumps(deployable)

checks = {}


def check(name, ok, detail=None):
    checks[name] = {"ok": bool(ok), "detail": detail}


stack = "churntrain"
cfn.create_stack(
    StackName=stack,
    TemplateBody=body,
    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    Parameters=[
        {"ParameterKey": "VpcId", "ParameterValue": vpc},
        {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(subnets)},
        {"ParameterKey": "TrainerImageUri", "ParameterValue": "docker.io/example/churn-trainer:abc123"},
        {"ParameterKey": "Workers", "ParameterValue": "4"},
        {"ParameterKey": "MlflowTrackingUri", "ParameterValue": "https://mlflow.example.com"},
    ],
)
st = cfn.describe_stacks(StackName=stack)["Stacks"][0]
created = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]}
check("stack CREATE_COMPLETE", st["StackStatus"] == "CREATE_COMPLETE", st["StackStatus"])
expected = {lid for lid, r in res.items() if r["Type"] not in MOTO_SKIPS}
check("every logical id of a type moto supports is created", expected <= created, sorted(expected - created))
skipped = {lid for lid, r in res.items() if r["Type"] in MOTO_SKIPS}
check("only service discovery and egress rules are left to the template checks",
      skipped == {"Namespace", "TrackerDiscovery", "JobPeersEgress", "JobToVolumeEgress"}, sorted(skipped))
egress = [(r["Properties"]["FromPort"], r["Properties"]["ToPort"], r["Properties"]["DestinationSecurityGroupId"])
          for r in res.values() if r["Type"] == "AWS::EC2::SecurityGroupEgress"]
check("the job's tasks send the collective to each other and NFS to the volume only",
      sorted(egress, key=str) == sorted([(1024, 65535, {"Ref": "JobSecurityGroup"}), (2049, 2049, {"Ref": "VolumeSecurityGroup"})], key=str), egress)
out = res["JobSecurityGroup"]["Properties"]["SecurityGroupEgress"]
check("to the internet only https", [(e["FromPort"], e["ToPort"], e["CidrIp"]) for e in out] == [(443, 443, "0.0.0.0/0")], out)
ns = res["Namespace"]["Properties"]
check("the namespace is private to the job's VPC", res["Namespace"]["Type"] == "AWS::ServiceDiscovery::PrivateDnsNamespace"
      and ns["Vpc"] == {"Ref": "VpcId"} and ns["Name"] == {"Fn::Sub": "${AWS::StackName}.training.local"}, ns)
outputs = {o["OutputKey"]: o["OutputValue"] for o in st.get("Outputs", [])}
check("outputs give the tracker's address", outputs.get("TrackerAddress") == f"tracker.{stack}.training.local:9091", outputs)

# ---- the network: the collective between the job's tasks only ---------------------------------------
sgs = {g["GroupId"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
job = [g for g in sgs.values() if g["GroupName"].startswith(f"{stack}-JobSecurityGroup")]
check("the job's security group exists", len(job) == 1, [g["GroupName"] for g in sgs.values()])
job = job[0] if job else {"IpPermissions": [], "GroupId": "?"}
ingress = [(p.get("FromPort"), p.get("ToPort"), [u["GroupId"] for u in p["UserIdGroupPairs"]], p["IpRanges"]) for p in job["IpPermissions"]]
check("the job's tasks admit TCP 1024-65535 from the job's own group only", ingress == [(1024, 65535, [job["GroupId"]], [])], ingress)
check("nothing reaches the job from the internet", all(not p["IpRanges"] for p in job["IpPermissions"]), job["IpPermissions"])
vol = [g for g in sgs.values() if g["GroupName"].startswith(f"{stack}-VolumeSecurityGroup")]
vol_in = [(p.get("FromPort"), [u["GroupId"] for u in p["UserIdGroupPairs"]]) for p in vol[0]["IpPermissions"]] if vol else None
check("the volume admits NFS from the job's tasks only", vol_in == [(2049, [job["GroupId"]])], vol_in)

# ---- the shared volume ---------------------------------------------------------------------------
fss = efs.describe_file_systems()["FileSystems"]
check("one encrypted file system", len(fss) == 1 and fss[0]["Encrypted"], fss)
fs_id = fss[0]["FileSystemId"] if fss else "?"
mts = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"] if fss else []
check("a mount target in each subnet", sorted(m["SubnetId"] for m in mts) == sorted(subnets), mts)
aps = efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"] if fss else []
check("the access point is the trainer image's user", len(aps) == 1 and aps[0]["PosixUser"]["Uid"] == 10001, aps)

# ---- the schedule starts N workers together ------------------------------------------------------
rules = [r for r in events.list_rules()["Rules"] if r.get("ScheduleExpression")]
check("the workers start on the 1st of each month", [r["ScheduleExpression"] for r in rules] == ["cron(0 4 1 * ? *)"], rules)
targets = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"] if rules else []
ecs_params = targets[0].get("EcsParameters", {}) if targets else {}
check("the schedule runs the worker task Workers times", ecs_params.get("TaskCount") == 4, targets)
wr = res["WorkersRule"]["Properties"]["Targets"][0]["EcsParameters"]
check("workers run on Fargate in the job's group", wr["LaunchType"] == "FARGATE"
      and wr["NetworkConfiguration"]["AwsVpcConfiguration"]["SecurityGroups"] == [{"Ref": "JobSecurityGroup"}], wr)
erole = [s for p in res["WorkersEventsRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
check("the schedule's role may only run the worker task and pass its roles", [s["Action"] for s in erole] == ["ecs:RunTask", "iam:PassRole"], erole)

# ---- the tasks: registered (moto keeps the families), checked on the template ----------------------
families = ecs.list_task_definition_families()["families"]
check("tracker and worker task definitions are registered", {f"{stack}-tracker", f"{stack}-worker"} <= set(families), families)
worker = res["WorkerTaskDefinition"]["Properties"]
wc = worker["ContainerDefinitions"][0]
env = {e["Name"]: e["Value"] for e in wc["Environment"] if "Name" in e}
check("workers find the tracker by its service-discovery name", env.get("DMLC_TRACKER_URI") == {"Fn::Sub": "tracker.${AWS::StackName}.training.local"}, env)
check("workers know the job's size and the tracker's port", env.get("DMLC_NUM_WORKER") == {"Ref": "Workers"} and env.get("DMLC_TRACKER_PORT") == {"Ref": "TrackerPort"}, env)
check("each worker takes the shard of its rank", "/data/shards/{rank}" in wc["Command"][0]["Fn::Sub"], wc["Command"])
check("workers mount the volume through its access point with IAM and TLS",
      worker["Volumes"][0]["EFSVolumeConfiguration"]["AuthorizationConfig"] == {"AccessPointId": {"Ref": "DataAccessPoint"}, "IAM": "ENABLED"}
      and worker["Volumes"][0]["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED", worker["Volumes"])
check("workers run as non-root with a read-only root filesystem", wc["User"] == "10001:10001" and wc["ReadonlyRootFilesystem"] is True)
tracker = res["TrackerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
check("the tracker waits for N workers on its port without a join limit",
      tracker["Command"][:3] == ["tracker", "--workers", {"Ref": "Workers"}] and "--timeout" in tracker["Command"]
      and tracker["Command"][tracker["Command"].index("--timeout") + 1] == "0", tracker["Command"])
svc = res["TrackerService"]["Properties"]
check("the tracker service registers in Cloud Map", svc["ServiceRegistries"] == [{"RegistryArn": {"Fn::GetAtt": ["TrackerDiscovery", "Arn"]}}], svc)
check("the tracker service is one Fargate task in the job's group", svc["DesiredCount"] == 1 and svc["LaunchType"] == "FARGATE"
      and svc["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == [{"Ref": "JobSecurityGroup"}], svc)
disc = res["TrackerDiscovery"]["Properties"]
check("the tracker's name is an A record in the job's private namespace", disc["Name"] == "tracker"
      and disc["DnsConfig"]["DnsRecords"][0]["Type"] == "A" and disc["NamespaceId"] == {"Ref": "Namespace"}, disc)
role = [s for p in res["TaskRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
check("the task role may only mount and write the volume through its access point",
      len(role) == 1 and role[0]["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
      and role[0]["Resource"]["Fn::Sub"].endswith(":file-system/${Volume}")
      and role[0]["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"]["Fn::Sub"].endswith(":access-point/${DataAccessPoint}"), role)

ok = all(c["ok"] for c in checks.values())
print(json.dumps({"ok": ok, "checks": checks}, default=str))
sys.exit(0 if ok else 1)
