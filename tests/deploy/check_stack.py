"""Deploys infra/churn.yaml into a local moto server, reads the stack back, and checks on the
parsed template what moto does not keep (ECS service launch type, awsvpc networking and load
balancer wiring; task definition compatibilities, network mode, cpu/memory and roles).

usage: check_stack.py MOTO_ENDPOINT TEMPLATE
Prints one JSON object; exits 1 when a check fails.
"""
import json
import sys
import urllib.request

import boto3
from cfnlint.decode import decode

# moto accepts these types in a template but skips them (it logs "No Moto CloudFormation
# support"); they are checked on the template instead.
MOTO_SKIPS = {"AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"}

endpoint, template_path = sys.argv[1], sys.argv[2]
urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"))
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, cfn, elb, ecs, logs, iam = (boto3.client(s, **kw) for s in ["ec2", "cloudformation", "elbv2", "ecs", "logs", "iam"])
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][:2]]
body = open(template_path).read()
template, problems = decode(template_path)
assert not problems, problems
res = template["Resources"]

checks = {}


def check(name, ok, detail=None):
    checks[name] = {"ok": bool(ok), "detail": detail}


def deploy(stack, extra=()):
    params = [
        {"ParameterKey": "VpcId", "ParameterValue": vpc},
        {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(subnets)},
        {"ParameterKey": "ImageUri", "ParameterValue": "docker.io/example/churn:abc123"},
        *extra,
    ]
    cfn.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"], Parameters=params)
    st = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    created = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]}
    return st, created


# ---- HTTP-only stack ------------------------------------------------------------------------
stack = "churn"
st, created = deploy(stack)
check("stack CREATE_COMPLETE", st["StackStatus"] == "CREATE_COMPLETE", st["StackStatus"])
expected = {lid for lid, r in res.items() if r.get("Condition") not in ("HasCertificate", "HasRetrain") and r["Type"] not in MOTO_SKIPS}
check("every logical id is created (moto-supported types)", expected <= created, sorted(expected - created))
skipped = {lid: r["Type"] for lid, r in res.items() if r["Type"] in MOTO_SKIPS}
check("only the autoscaling resources are left to the template checks", set(skipped) == {"ScalableTarget", "CpuScaling"}, skipped)
outputs = {o["OutputKey"]: o["OutputValue"] for o in st.get("Outputs", [])}
check("outputs give the service URL", outputs.get("ServiceUrl", "").startswith("http://"), outputs.get("ServiceUrl"))

tg = elb.describe_target_groups(Names=[f"{stack}-tg"])["TargetGroups"][0]
check("target group: IP targets", tg["TargetType"] == "ip", tg["TargetType"])
check("target group: HTTP on port 8000", (tg["Protocol"], tg["Port"]) == ("HTTP", 8000), (tg["Protocol"], tg["Port"]))
check("target group: health check path /", tg["HealthCheckPath"] == "/", tg["HealthCheckPath"])
check("target group: health check answers 200", tg.get("Matcher", {}).get("HttpCode") == "200", tg.get("Matcher"))
lb = elb.describe_load_balancers(Names=[f"{stack}-alb"])["LoadBalancers"][0]
check("ALB is internet-facing in the given subnets", lb["Scheme"] == "internet-facing" and sorted(a["SubnetId"] for a in lb["AvailabilityZones"]) == sorted(subnets), lb["Scheme"])
listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
l80 = [l for l in listeners if l["Port"] == 80]
check("listener 80 forwards to the target group", len(l80) == 1 and l80[0]["DefaultActions"][0]["Type"] == "forward" and l80[0]["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"], l80)
check("no 443 listener without a certificate", not [l for l in listeners if l["Port"] == 443])
sgs = {g["GroupId"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
alb_sg = sgs[lb["SecurityGroups"][0]]
open_ports = sorted(p["FromPort"] for p in alb_sg["IpPermissions"] if any(r["CidrIp"] == "0.0.0.0/0" for r in p["IpRanges"]))
check("ALB security group: 80 and 443 from the internet", open_ports == [80, 443], open_ports)
svc_sgs = [g for g in sgs.values() if g["GroupName"].startswith(f"{stack}-ServiceSecurityGroup")]
perms = [(p["FromPort"], [u["GroupId"] for u in p["UserIdGroupPairs"]], p["IpRanges"]) for p in svc_sgs[0]["IpPermissions"]] if svc_sgs else None
check("task security group: 8000 only from the ALB's group", perms == [(8000, [alb_sg["GroupId"]], [])], perms)
lg = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{stack}-api")["logGroups"]
check("CloudWatch log group with 14-day retention", lg and lg[0].get("retentionInDays") == 14, lg)
td = ecs.describe_task_definition(taskDefinition=f"{stack}-api")["taskDefinition"]
c = td["containerDefinitions"][0]
check("task definition: container port 8000", [p["containerPort"] for p in c["portMappings"]] == [8000], c["portMappings"])
check("task definition: awslogs to the log group", c["logConfiguration"]["logDriver"] == "awslogs" and c["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{stack}-api", c["logConfiguration"])
check("ECS cluster exists", ecs.describe_clusters(clusters=[f"{stack}-cluster"])["clusters"][0]["status"] == "ACTIVE")

# ---- HTTPS stack ------------------------------------------------------------------------------
cert = boto3.client("acm", **kw).request_certificate(DomainName="churn.example.com")["CertificateArn"]
st2, created2 = deploy("churntls", [{"ParameterKey": "CertificateArn", "ParameterValue": cert}])
check("with a certificate the HTTPS listener is created", "HttpsListener" in created2, sorted(created2))
lb2 = elb.describe_load_balancers(Names=["churntls-alb"])["LoadBalancers"][0]
ls2 = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=lb2["LoadBalancerArn"])["Listeners"]}
check("with a certificate: 443 is HTTPS and forwards", 443 in ls2 and ls2[443]["Protocol"] == "HTTPS" and ls2[443]["DefaultActions"][0]["Type"] == "forward", ls2.get(443))
check("with a certificate: 80 redirects to HTTPS", ls2[80]["DefaultActions"][0]["Type"] == "redirect", ls2[80]["DefaultActions"])
outputs2 = {o["OutputKey"]: o["OutputValue"] for o in st2.get("Outputs", [])}
check("with a certificate the URL is https", outputs2.get("ServiceUrl", "").startswith("https://"), outputs2.get("ServiceUrl"))

check("without a trainer image there is no retraining schedule", not any(lid.startswith("Retrain") for lid in created), sorted(created))

# ---- with the monthly retraining task ---------------------------------------------------------
st3, created3 = deploy("churnloop", [
    {"ParameterKey": "RetrainImageUri", "ParameterValue": "docker.io/example/churn-trainer:abc123"},
    {"ParameterKey": "MlflowTrackingUri", "ParameterValue": "https://mlflow.example.com"},
    {"ParameterKey": "ModelUri", "ParameterValue": "models:/churn@champion"},
    {"ParameterKey": "TrainingDataUrl", "ParameterValue": "https://data.example.com/latest.parquet"},
    {"ParameterKey": "ChallengeDataUrl", "ParameterValue": "https://data.example.com/outcomes.parquet"},
])
retrain = {"RetrainTaskDefinition", "RetrainSecurityGroup", "RetrainEventsRole", "RetrainRule"}
check("with a trainer image the retraining task, its role, group and schedule are created", retrain <= created3, sorted(retrain - created3))
events = boto3.client("events", **kw)
rules = [r for r in events.list_rules()["Rules"] if r.get("ScheduleExpression")]
check("the schedule is the 2nd of each month", any(r["ScheduleExpression"] == "cron(0 6 2 * ? *)" for r in rules), rules)
arns = [a for a in ecs.list_task_definitions()["taskDefinitionArns"] if "churnloop-retrain" in a]
family = ecs.describe_task_definition(taskDefinition=arns[0])["taskDefinition"] if arns else {"containerDefinitions": [{"environment": []}]}
check("the retraining task definition is registered", bool(arns), ecs.list_task_definitions()["taskDefinitionArns"])
env = {e["name"]: e["value"] for e in family["containerDefinitions"][0]["environment"]}
check("the retraining task gets the tracking server and both data sets", env.get("MLFLOW_TRACKING_URI") == "https://mlflow.example.com"
      and env.get("TRAINING_DATA_URL", "").endswith("latest.parquet") and env.get("CHALLENGE_DATA_URL", "").endswith("outcomes.parquet"), env)
rp = res["RetrainRule"]["Properties"]["Targets"][0]["EcsParameters"]
check("retraining runs on Fargate in the given subnets, with its own group", rp["LaunchType"] == "FARGATE"
      and rp["NetworkConfiguration"]["AwsVpcConfiguration"]["SecurityGroups"] == [{"Ref": "RetrainSecurityGroup"}], rp)
rsg = res["RetrainSecurityGroup"]["Properties"]
check("the retraining task takes no inbound traffic and sends https only", "SecurityGroupIngress" not in rsg
      and [e["FromPort"] for e in rsg["SecurityGroupEgress"]] == [443], rsg)
erole = [s for p in res["RetrainEventsRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
check("the schedule's role may only run that task and pass the execution role",
      [s["Action"] for s in erole] == ["ecs:RunTask", "iam:PassRole"], erole)
svc_env = res["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"]
check("serving tasks watch a registry URI so all follow a promotion",
      any(isinstance(e, dict) and "Fn::If" in e and e["Fn::If"][1].get("Name") == "CHURN_WATCH_SECONDS" for e in svc_env), svc_env)

# ---- what moto drops, on the parsed template ------------------------------------------------------
svc = res["Service"]["Properties"]
check("service: Fargate", svc["LaunchType"] == "FARGATE")
net = svc["NetworkConfiguration"]["AwsvpcConfiguration"]
check("service: awsvpc in the given subnets with the task security group", net["Subnets"] == {"Ref": "SubnetIds"} and net["SecurityGroups"] == [{"Ref": "ServiceSecurityGroup"}], net)
check("service: registered in the target group on 8000", svc["LoadBalancers"] == [{"ContainerName": "churn", "ContainerPort": 8000, "TargetGroupArn": {"Ref": "TargetGroup"}}], svc["LoadBalancers"])
breaker = svc["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
check("service: deployment circuit breaker with rollback", breaker == {"Enable": True, "Rollback": True}, breaker)
check("service waits for the listener", res["Service"].get("DependsOn") == "HttpListener")
tdp = res["TaskDefinition"]["Properties"]
check("task definition: Fargate and awsvpc", tdp["RequiresCompatibilities"] == ["FARGATE"] and tdp["NetworkMode"] == "awsvpc")
check("task definition: cpu and memory from parameters", tdp["Cpu"] == {"Ref": "Cpu"} and tdp["Memory"] == {"Ref": "Memory"})
check("task definition: execution role", tdp["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]})
cont = tdp["ContainerDefinitions"][0]
check("container health check runs churn healthcheck", cont["HealthCheck"]["Command"] == ["CMD", "/churn", "healthcheck"], cont["HealthCheck"])
check("container runs as non-root with a read-only root filesystem", cont["User"] == "10001:10001" and cont["ReadonlyRootFilesystem"] is True)
role = res["ExecutionRole"]["Properties"]
statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
check("execution role: least privilege (write its own log group only)",
      "ManagedPolicyArns" not in role and statements == [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": {"Fn::GetAtt": ["LogGroup", "Arn"]}}], statements)
scaling = res["CpuScaling"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
check("target-tracking autoscaling on CPU", scaling["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization")
check("autoscaling targets the service", res["ScalableTarget"]["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount")

ok = all(c["ok"] for c in checks.values())
print(json.dumps({"ok": ok, "checks": checks}, default=str))
sys.exit(0 if ok else 1)
