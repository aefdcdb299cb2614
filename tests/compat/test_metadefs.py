"""python-glanceclient's `glance md-*` commands: metadata definitions.

Each test works in a namespace of its own (named after the `unique` prefix)
and checks every command's outcome through the CLI's own output and, where
it matters, a plain GET of the API. glanceclient fetches
/v2/schemas/metadefs/namespace and /v2/schemas/metadefs/resource_type when
it starts (and the property, object and tag schemas when it builds those
models), so the catalog's schemas are exercised too.
"""

import json

import pytest

from helpers import http, parse_table


def rows(text):
    """A `print_list` table as a list of dicts keyed by the header cells."""
    header = None
    out = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip()[1:-1].split("|")]
        if header is None:
            header = cells
            continue
        out.append(dict(zip(header, cells)))
    return out


def column(text, name):
    return [row[name] for row in rows(text)]


def get(catalog_url, path):
    status, _, body = http("GET", f"{catalog_url}/v2/metadefs/namespaces/{path}")
    return status, (json.loads(body) if body and status == 200 else None)


def assert_clean_failure(result, *needles):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture
def namespace(glance, catalog_url, unique):
    """A namespace created with `md-namespace-create`, deleted afterwards."""
    name = f"{unique}-ns"
    glance.run("md-namespace-create", name, "--display-name", "Compat", "--visibility", "public")
    yield name
    # Unprotect, then delete whatever the test left (it may have deleted it).
    status, _ = get(catalog_url, name)
    if status == 200:
        glance.run("md-namespace-update", name, "--protected", "False", check=False)
        glance.run("md-namespace-delete", name, check=False)


def test_namespace_create_show_list_update_and_delete(glance, catalog_url, unique):
    name = f"{unique}-ns"
    created = parse_table(
        glance.run(
            "md-namespace-create",
            name,
            "--display-name",
            "Compat namespace",
            "--description",
            "made by the glance CLI",
            "--visibility",
            "public",
            "--protected",
            "True",
        ).stdout
    )
    assert created["namespace"] == name
    assert created["display_name"] == "Compat namespace"
    assert created["visibility"] == "public"
    assert created["protected"] == "True"

    shown = parse_table(glance.run("md-namespace-show", name, "--max-column-width", "500").stdout)
    assert shown["namespace"] == name
    assert shown["description"] == "made by the glance CLI"
    assert shown["schema"] == "/v2/schemas/metadefs/namespace"
    status, body = get(catalog_url, name)
    assert status == 200 and body["protected"] is True and body["visibility"] == "public"

    listed = column(glance.run("md-namespace-list").stdout, "namespace")
    assert name in listed
    assert name in column(glance.run("md-namespace-list", "--visibility", "public").stdout, "namespace")
    assert name not in column(glance.run("md-namespace-list", "--visibility", "private").stdout, "namespace")
    # Paging: one namespace a page, following `next` to the end.
    paged = column(glance.run("md-namespace-list", "--page-size", "1").stdout, "namespace")
    assert name in paged
    assert len(paged) == len(set(paged))

    # A protected namespace cannot be deleted.
    refused = glance.run("md-namespace-delete", name, check=False)
    assert_clean_failure(refused, "403")
    assert get(catalog_url, name)[0] == 200

    updated = parse_table(
        glance.run(
            "md-namespace-update", name, "--description", "updated", "--protected", "False", "--visibility", "private"
        ).stdout
    )
    assert updated["description"] == "updated"
    assert updated["protected"] == "False"
    _, body = get(catalog_url, name)
    assert body["description"] == "updated"
    assert body["protected"] is False
    assert body["visibility"] == "private"
    assert body["display_name"] == "Compat namespace"

    glance.run("md-namespace-delete", name)
    assert get(catalog_url, name)[0] == 404
    missing = glance.run("md-namespace-show", name, check=False)
    assert_clean_failure(missing, "404")


def test_namespace_create_of_an_existing_name_is_a_conflict(glance, namespace):
    result = glance.run("md-namespace-create", namespace, check=False)
    assert_clean_failure(result, "409")


def test_namespace_rename(glance, catalog_url, namespace):
    renamed = f"{namespace}-renamed"
    shown = parse_table(glance.run("md-namespace-update", namespace, "--namespace", renamed).stdout)
    assert shown["namespace"] == renamed
    assert get(catalog_url, namespace)[0] == 404
    assert get(catalog_url, renamed)[0] == 200
    glance.run("md-namespace-delete", renamed)


def test_objects_create_list_show_update_and_delete(glance, catalog_url, namespace):
    schema = {
        "description": "A compat object",
        "required": ["size"],
        "properties": {
            "size": {"title": "Size", "type": "integer", "minimum": 1},
            "label": {"title": "Label", "type": "string"},
        },
    }
    created = parse_table(glance.run("md-object-create", namespace, "--name", "Box", "--schema", json.dumps(schema)).stdout)
    assert created["name"] == "Box"
    assert created["description"] == "A compat object"
    assert sorted(json.loads(created["properties"])) == ["label", "size"]

    listed = rows(glance.run("md-object-list", namespace).stdout)
    assert [(r["name"], r["description"]) for r in listed] == [("Box", "A compat object")]

    shown = parse_table(glance.run("md-object-show", namespace, "Box").stdout)
    assert json.loads(shown["required"]) == ["size"]
    prop = parse_table(glance.run("md-object-property-show", namespace, "Box", "size").stdout)
    assert prop["type"] == "integer"
    assert prop["minimum"] == "1"

    status, body = get(catalog_url, f"{namespace}/objects/Box")
    assert status == 200
    assert body["properties"]["label"] == {"title": "Label", "type": "string"}

    updated = parse_table(
        glance.run("md-object-update", namespace, "Box", "--name", "Crate", "--schema", json.dumps({"description": "renamed"})).stdout
    )
    assert updated["name"] == "Crate"
    assert updated["description"] == "renamed"
    assert get(catalog_url, f"{namespace}/objects/Box")[0] == 404
    assert column(glance.run("md-object-list", namespace).stdout, "name") == ["Crate"]
    # The namespace shows its objects.
    _, body = get(catalog_url, namespace)
    assert [o["name"] for o in body["objects"]] == ["Crate"]

    glance.run("md-object-delete", namespace, "Crate")
    assert get(catalog_url, f"{namespace}/objects/Crate")[0] == 404
    assert column(glance.run("md-object-list", namespace).stdout, "name") == []
    assert_clean_failure(glance.run("md-object-show", namespace, "Crate", check=False), "404")


def test_properties_create_list_show_update_and_delete(glance, catalog_url, namespace):
    created = parse_table(
        glance.run(
            "md-property-create",
            namespace,
            "--name",
            "speed",
            "--title",
            "Speed",
            "--type",
            "string",
            "--schema",
            json.dumps({"enum": ["slow", "fast"], "description": "How fast"}),
        ).stdout
    )
    assert created["name"] == "speed"
    assert created["title"] == "Speed"
    assert json.loads(created["enum"]) == ["slow", "fast"]
    glance.run("md-property-create", namespace, "--name", "count", "--title", "Count", "--type", "integer", "--schema", "{}")

    listed = sorted((r["name"], r["title"], r["type"]) for r in rows(glance.run("md-property-list", namespace).stdout))
    assert listed == [("count", "Count", "integer"), ("speed", "Speed", "string")]

    shown = parse_table(glance.run("md-property-show", namespace, "speed").stdout)
    assert shown["description"] == "How fast"
    status, body = get(catalog_url, f"{namespace}/properties/speed")
    assert status == 200 and body["type"] == "string" and body["enum"] == ["slow", "fast"]

    updated = parse_table(glance.run("md-property-update", namespace, "speed", "--title", "Velocity").stdout)
    assert updated["title"] == "Velocity"
    assert updated["name"] == "speed"
    renamed = parse_table(glance.run("md-property-update", namespace, "count", "--name", "total").stdout)
    assert renamed["name"] == "total"
    assert get(catalog_url, f"{namespace}/properties/count")[0] == 404
    _, body = get(catalog_url, namespace)
    assert sorted(body["properties"]) == ["speed", "total"]
    assert body["properties"]["speed"]["title"] == "Velocity"

    glance.run("md-property-delete", namespace, "speed")
    assert get(catalog_url, f"{namespace}/properties/speed")[0] == 404
    assert column(glance.run("md-property-list", namespace).stdout, "name") == ["total"]
    assert_clean_failure(glance.run("md-property-show", namespace, "speed", check=False), "404")


def test_tags_create_create_multiple_list_show_update_and_delete(glance, catalog_url, namespace):
    created = parse_table(glance.run("md-tag-create", namespace, "--name", "alpha").stdout)
    assert created["name"] == "alpha"
    assert column(glance.run("md-tag-list", namespace).stdout, "name") == ["alpha"]
    assert_clean_failure(glance.run("md-tag-create", namespace, "--name", "alpha", check=False), "409")

    # Without --append the new list replaces the namespace's tags.
    replaced = column(glance.run("md-tag-create-multiple", namespace, "--names", "beta,gamma").stdout, "name")
    assert sorted(replaced) == ["beta", "gamma"]
    assert sorted(column(glance.run("md-tag-list", namespace).stdout, "name")) == ["beta", "gamma"]
    # `--append` cannot be tested through this CLI: glanceclient sends the
    # X-Openstack-Append header as a Python bool, which its HTTP layer
    # refuses before any request leaves ("quote_from_bytes() expected
    # bytes"). The header itself is covered over HTTP in tests/api/metadefs.rs;
    # here the custom delimiter replaces the list again.
    glance.run("md-tag-create-multiple", namespace, "--names", "delta|epsilon", "--delim", "|")
    assert sorted(column(glance.run("md-tag-list", namespace).stdout, "name")) == ["delta", "epsilon"]
    glance.run("md-tag-create-multiple", namespace, "--names", "beta,gamma")

    shown = parse_table(glance.run("md-tag-show", namespace, "beta").stdout)
    assert shown["name"] == "beta"
    assert shown["created_at"]

    renamed = parse_table(glance.run("md-tag-update", namespace, "beta", "--name", "bravo").stdout)
    assert renamed["name"] == "bravo"
    assert get(catalog_url, f"{namespace}/tags/beta")[0] == 404
    assert get(catalog_url, f"{namespace}/tags/bravo")[0] == 200

    glance.run("md-tag-delete", namespace, "gamma")
    assert get(catalog_url, f"{namespace}/tags/gamma")[0] == 404
    _, body = get(catalog_url, namespace)
    assert sorted(t["name"] for t in body["tags"]) == ["bravo"]
    assert_clean_failure(glance.run("md-tag-show", namespace, "gamma", check=False), "404")


def test_resource_type_associate_list_and_deassociate(glance, catalog_url, namespace):
    associated = parse_table(
        glance.run(
            "md-resource-type-associate",
            namespace,
            "--name",
            "OS::Nova::Flavor",
            "--prefix",
            "compat:",
            "--properties-target",
            "flavor",
        ).stdout
    )
    assert associated["name"] == "OS::Nova::Flavor"
    assert associated["prefix"] == "compat:"
    glance.run("md-resource-type-associate", namespace, "--name", "OS::Glance::Image")

    # Associating creates the resource type if it is new; both are listed.
    types = column(glance.run("md-resource-type-list").stdout, "name")
    assert "OS::Nova::Flavor" in types and "OS::Glance::Image" in types

    associations = {r["name"]: r for r in rows(glance.run("md-namespace-resource-type-list", namespace).stdout)}
    assert sorted(associations) == ["OS::Glance::Image", "OS::Nova::Flavor"]
    assert associations["OS::Nova::Flavor"]["prefix"] == "compat:"
    assert associations["OS::Nova::Flavor"]["properties_target"] == "flavor"
    status, _, body = http("GET", f"{catalog_url}/v2/metadefs/namespaces/{namespace}/resource_types")
    assert status == 200
    assert sorted(a["name"] for a in json.loads(body)["resource_type_associations"]) == sorted(associations)

    # Namespaces are filtered by their resource types.
    assert namespace in column(glance.run("md-namespace-list", "--resource-types", "OS::Nova::Flavor").stdout, "namespace")

    # The namespace shows the resource type's prefix on its properties when asked.
    glance.run("md-property-create", namespace, "--name", "cores", "--title", "Cores", "--type", "integer", "--schema", "{}")
    shown = parse_table(glance.run("md-namespace-show", namespace, "--resource-type", "OS::Nova::Flavor").stdout)
    assert json.loads(shown["properties"]) == ["compat:cores"]

    glance.run("md-resource-type-deassociate", namespace, "OS::Nova::Flavor")
    assert column(glance.run("md-namespace-resource-type-list", namespace).stdout, "name") == ["OS::Glance::Image"]
    assert namespace not in column(
        glance.run("md-namespace-list", "--resource-types", "OS::Nova::Flavor").stdout, "namespace"
    )
    assert_clean_failure(glance.run("md-resource-type-deassociate", namespace, "OS::Nova::Flavor", check=False), "404")


def test_namespace_show_lists_its_contents_and_delete_removes_them(glance, catalog_url, namespace):
    glance.run("md-resource-type-associate", namespace, "--name", "OS::Glance::Image")
    glance.run("md-property-create", namespace, "--name", "p", "--title", "P", "--type", "boolean", "--schema", "{}")
    glance.run("md-object-create", namespace, "--name", "O", "--schema", "{}")
    glance.run("md-tag-create", namespace, "--name", "T")

    shown = parse_table(glance.run("md-namespace-show", namespace, "--max-column-width", "500").stdout)
    assert json.loads(shown["resource_type_associations"]) == ["OS::Glance::Image"]
    assert json.loads(shown["properties"]) == ["p"]
    assert json.loads(shown["objects"]) == ["O"]
    assert json.loads(shown["tags"]) == ["T"]

    glance.run("md-namespace-delete", namespace)
    for path in (namespace, f"{namespace}/objects/O", f"{namespace}/properties/p", f"{namespace}/tags/T"):
        assert get(catalog_url, path)[0] == 404, path
    assert namespace not in column(glance.run("md-namespace-list").stdout, "namespace")
