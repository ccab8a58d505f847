"""Drive deskpilot sim with boto3, as an admin's own script would. Prints OK on success.

Usage: python3 boto3_check.py ENDPOINT_URL
"""
import sys

import boto3
import botocore.exceptions

endpoint = sys.argv[1]
session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1")
appstream = session.client("appstream", endpoint_url=endpoint)
aas = session.client("application-autoscaling", endpoint_url=endpoint)
ses = session.client("ses", endpoint_url=endpoint)
sesv2 = session.client("sesv2", endpoint_url=endpoint)
sts = session.client("sts", endpoint_url=endpoint)

assert sts.get_caller_identity()["Account"] == "123456789012"

for i in range(23):
    appstream.create_fleet(Name=f"py-{i:02d}", InstanceType="stream.standard.small", ImageName="img-1",
                           FleetType="ALWAYS_ON", ComputeCapacity={"DesiredInstances": 1})
names = []
for page in appstream.get_paginator("describe_fleets").paginate():
    names += [f["Name"] for f in page["Fleets"]]
assert len([n for n in names if n.startswith("py-")]) == 23, names
fleet = appstream.describe_fleets(Names=["py-00"])["Fleets"][0]
assert fleet["State"] == "STOPPED" and fleet["ComputeCapacityStatus"]["Desired"] == 1, fleet
assert fleet["CreatedTime"].year >= 2020  # epoch seconds parsed as a datetime

image_arn = appstream.describe_images(Names=["img-1"])["Images"][0]["Arn"]
appstream.tag_resource(ResourceArn=image_arn, Tags={"FleetName": "py-00/py-01", "ScaleImmediately": "True"})
assert appstream.list_tags_for_resource(ResourceArn=image_arn)["Tags"]["FleetName"] == "py-00/py-01"

try:
    appstream.describe_fleets(Names=["missing"])
    raise AssertionError("describe_fleets of a missing fleet succeeded")
except appstream.exceptions.ResourceNotFoundException:
    pass
try:
    appstream.tag_resource(ResourceArn=image_arn, Tags={"aws:x": "y"})
    raise AssertionError("an aws: tag key was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response

aas.register_scalable_target(ServiceNamespace="appstream", ResourceId="fleet/py-00",
                             ScalableDimension="appstream:fleet:DesiredCapacity", MinCapacity=1, MaxCapacity=3)
target = aas.describe_scalable_targets(ServiceNamespace="appstream", ResourceIds=["fleet/py-00"])["ScalableTargets"][0]
assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3), target
try:
    aas.deregister_scalable_target(ServiceNamespace="appstream", ResourceId="fleet/py-01",
                                   ScalableDimension="appstream:fleet:DesiredCapacity")
    raise AssertionError("deregistering a missing target succeeded")
except aas.exceptions.ObjectNotFoundException:
    pass
aas.put_scheduled_action(ServiceNamespace="appstream", ResourceId="fleet/py-00",
                         ScalableDimension="appstream:fleet:DesiredCapacity", ScheduledActionName="evening",
                         Schedule="cron(0 18 ? * MON-FRI *)", Timezone="Europe/Berlin",
                         ScalableTargetAction={"MinCapacity": 0, "MaxCapacity": 0})
actions = aas.describe_scheduled_actions(ServiceNamespace="appstream", ResourceId="fleet/py-00")["ScheduledActions"]
assert [a["ScheduledActionName"] for a in actions] == ["evening"], actions
assert actions[0]["Timezone"] == "Europe/Berlin" and actions[0]["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}, actions
assert actions[0]["CreationTime"].year >= 2020, actions
try:
    aas.put_scheduled_action(ServiceNamespace="appstream", ResourceId="fleet/py-00",
                             ScalableDimension="appstream:fleet:DesiredCapacity", ScheduledActionName="bad",
                             Schedule="cron(0 18 L * ? *)")
    raise AssertionError("an unsupported cron expression was accepted")
except aas.exceptions.ValidationException:
    pass

ses.verify_email_identity(EmailAddress="deskpilot@example.com")
ses.send_email(Source="deskpilot@example.com", Destination={"ToAddresses": ["admin@example.com"]},
               Message={"Subject": {"Data": "from boto3 v1"}, "Body": {"Text": {"Data": "hello"}}})
sesv2.send_email(FromEmailAddress="deskpilot@example.com", Destination={"ToAddresses": ["admin@example.com"]},
                 Content={"Simple": {"Subject": {"Data": "from boto3 v2"}, "Body": {"Html": {"Data": "<p>hi</p>"}}}})
try:
    ses.send_email(Source="stranger@example.org", Destination={"ToAddresses": ["admin@example.com"]},
                   Message={"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}})
    raise AssertionError("an unverified sender was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "MessageRejected", e.response
print("OK")
