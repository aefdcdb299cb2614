"""The openstack CLI (python-openstackclient) without Keystone."""

import json


def show(openstack_cli, ref):
    return json.loads(openstack_cli.run("image", "show", ref, "-f", "json").stdout)


def test_image_create_list_show_save_set_delete(openstack_cli, unique, payload, tmp_path):
    created = json.loads(
        openstack_cli.run(
            "image", "create", "--disk-format", "raw", "--container-format", "bare", "--file", str(payload["path"]), unique, "-f", "json"
        ).stdout
    )
    assert created["status"] == "active"
    assert created["checksum"] == payload["md5"]

    listed = json.loads(openstack_cli.run("image", "list", "--name", unique, "-f", "json").stdout)
    assert [i["ID"] for i in listed] == [created["id"]]

    shown = show(openstack_cli, unique)
    assert shown["id"] == created["id"]
    assert shown["size"] == len(payload["data"])

    target = tmp_path / "saved.bin"
    openstack_cli.run("image", "save", "--file", str(target), unique)
    assert target.read_bytes() == payload["data"]

    openstack_cli.run("image", "set", "--property", "os_distro=debian", "--tag", "gold", "--min-ram", "512", unique)
    shown = show(openstack_cli, unique)
    assert shown["properties"]["os_distro"] == "debian"
    assert shown["tags"] == ["gold"]
    assert shown["min_ram"] == 512

    openstack_cli.run("image", "delete", unique)
    result = openstack_cli.run("image", "show", created["id"], check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_image_list_filters(openstack_cli, unique):
    openstack_cli.run("image", "create", "--private", "--tag", unique, f"{unique}-a")
    openstack_cli.run("image", "create", "--shared", "--tag", unique, f"{unique}-b")
    private = json.loads(openstack_cli.run("image", "list", "--private", "--tag", unique, "-f", "json").stdout)
    assert [i["Name"] for i in private] == [f"{unique}-a"]
    everything = json.loads(openstack_cli.run("image", "list", "--tag", unique, "--sort", "name:asc", "-f", "json").stdout)
    assert [i["Name"] for i in everything] == [f"{unique}-a", f"{unique}-b"]
