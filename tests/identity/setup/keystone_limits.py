"""What Keystone needs for the catalog's unified limits (USE_KEYSTONE_LIMITS),
shared by scripts/keystone.sh and scripts/tempest.sh: the service user as
a `reader` on the system (Keystone shows a project-scoped token only its own
project's limits), and Glance's four limits registered for the `image`
service, named glance, in RegionOne (as devstack registers them), unlimited
(-1) by default: projects get their own limits from the tests and Tempest."""

RESOURCES = ("image_size_total", "image_stage_total", "image_count_total", "image_count_uploading")
REGION = "RegionOne"


def grant_limits_reader(ks, user):
    reader = (ks.roles.list(name="reader") or [ks.roles.create("reader")])[0]
    ks.roles.grant(reader, user=user, system="all")


def image_service(ks):
    return (ks.services.list(type="image") or [ks.services.create("glance", "image")])[0]


def register_image_limits(ks):
    service = image_service(ks)
    registered = {limit.resource_name for limit in ks.registered_limits.list(service=service, region=REGION)}
    for name in RESOURCES:
        if name not in registered:
            ks.registered_limits.create(service, name, -1, region=REGION)
