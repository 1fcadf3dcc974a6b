# Build file for the ShadowMesh addons, run by node-gyp during `npm ci` or a
# package install ("install" script in package.json, native/build-addons.mjs):
# the TAP/TUN addon (native/tuntap.cc), the service-manager notification
# addon (native/sd-notify.cc) and the AEAD context addon (native/aead.cc).
# Needs only g++, make, python3 and Node's headers (the AEAD addon uses the
# OpenSSL headers that ship with them and the libcrypto symbols Node exports). N-API version 8 is pinned
# so one build serves every Node release from 20 on.
{
  "targets": [
    {
      "target_name": "shadowmesh_tun",
      "sources": ["tuntap.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["tuntap.cc"] }]
      ]
    },
    {
      "target_name": "shadowmesh_aead",
      "sources": ["aead.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "shadowmesh_notify",
      "sources": ["sd-notify.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["sd-notify.cc"] }]
      ]
    }
  ]
}
