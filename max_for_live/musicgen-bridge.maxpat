{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100.0,
   100.0,
   760.0,
   560.0
  ],
  "openinpresentation": 1,
  "default_fontsize": 10.0,
  "default_fontface": 0,
  "default_fontname": "Arial Bold",
  "gridsize": [
   8.0,
   8.0
  ],
  "devicewidth": 520.0,
  "description": "musicgen-bridge: generate, continue, more like this, sound effects and play live with MusicGen from Live (GPL-3.0-or-later)",
  "boxes": [
   {
    "box": {
     "id": "obj-thisdevice",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      20.0,
      20.0,
      90.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "int",
      "int"
     ],
     "text": "live.thisdevice"
    }
   },
   {
    "box": {
     "id": "obj-init",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      60.0,
      32.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "init"
    }
   },
   {
    "box": {
     "id": "obj-js",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 6,
     "patching_rect": [
      20.0,
      400.0,
      200.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      "",
      "",
      "",
      ""
     ],
     "text": "js mgb_device.js",
     "saved_object_attributes": {
      "filename": "mgb_device.js",
      "parameter_enable": 0
     }
    }
   },
   {
    "box": {
     "id": "obj-udpsend",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20.0,
      460.0,
      140.0,
      22.0
     ],
     "text": "udpsend 127.0.0.1 9000"
    }
   },
   {
    "box": {
     "id": "obj-udpreceive",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      240.0,
      340.0,
      100.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "udpreceive 9001"
    }
   },
   {
    "box": {
     "id": "obj-dspstate",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 4,
     "patching_rect": [
      130.0,
      60.0,
      70.0,
      22.0
     ],
     "outlettype": [
      "int",
      "float",
      "int",
      "int"
     ],
     "text": "dspstate~"
    }
   },
   {
    "box": {
     "id": "obj-prepend-sr",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      130.0,
      100.0,
      110.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend samplerate"
    }
   },
   {
    "box": {
     "id": "obj-plugin",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 2,
     "patching_rect": [
      600.0,
      20.0,
      60.0,
      22.0
     ],
     "outlettype": [
      "signal",
      "signal"
     ],
     "text": "plugin~"
    }
   },
   {
    "box": {
     "id": "obj-plugout",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 0,
     "patching_rect": [
      600.0,
      80.0,
      60.0,
      22.0
     ],
     "text": "plugout~"
    }
   },
   {
    "box": {
     "id": "obj-label-prompt",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      260.0,
      20.0,
      60.0,
      18.0
     ],
     "text": "Prompt",
     "presentation": 1,
     "presentation_rect": [
      10.0,
      6.0,
      60.0,
      18.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-prompt",
     "maxclass": "textedit",
     "numinlets": 1,
     "numoutlets": 4,
     "patching_rect": [
      260.0,
      40.0,
      220.0,
      40.0
     ],
     "outlettype": [
      "",
      "int",
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      10.0,
      24.0,
      250.0,
      36.0
     ],
     "keymode": 1,
     "lines": 2,
     "hint": "describe the music, e.g. warm lofi keys"
    }
   },
   {
    "box": {
     "id": "obj-prepend-prompt",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      260.0,
      116.0,
      90.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend prompt"
    }
   },
   {
    "box": {
     "id": "obj-label-model",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      500.0,
      120.0,
      60.0,
      18.0
     ],
     "text": "Model",
     "presentation": 1,
     "presentation_rect": [
      10.0,
      62.0,
      60.0,
      18.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-model",
     "maxclass": "umenu",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      500.0,
      140.0,
      200.0,
      22.0
     ],
     "outlettype": [
      "int",
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      10.0,
      80.0,
      250.0,
      22.0
     ],
     "items": [
      "facebook/musicgen-small",
      ",",
      "facebook/musicgen-medium",
      ",",
      "facebook/musicgen-large",
      ",",
      "facebook/musicgen-melody",
      ",",
      "facebook/musicgen-stereo-small",
      ",",
      "facebook/musicgen-stereo-melody",
      ",",
      "facebook/musicgen-style",
      ",",
      "facebook/magnet-small-10secs",
      ",",
      "facebook/magnet-medium-10secs",
      ",",
      "facebook/magnet-small-30secs",
      ",",
      "facebook/magnet-medium-30secs",
      ",",
      "facebook/audio-magnet-small",
      ",",
      "facebook/audio-magnet-medium"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Model",
       "parameter_shortname": "Model",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 12,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-prepend-model",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      500.0,
      180.0,
      90.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend model"
    }
   },
   {
    "box": {
     "id": "obj-bars",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      380.0,
      220.0,
      44.0,
      15.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      270.0,
      24.0,
      44.0,
      15.0
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Bars",
       "parameter_shortname": "Bars",
       "parameter_type": 1,
       "parameter_mmin": 0,
       "parameter_mmax": 64,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_annotation_name": "0 = the clip's length"
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-label-bars",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      430.0,
      220.0,
      40.0,
      18.0
     ],
     "text": "Bars",
     "presentation": 1,
     "presentation_rect": [
      318.0,
      22.0,
      40.0,
      18.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-prepend-bars",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      380.0,
      250.0,
      80.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend bars"
    }
   },
   {
    "box": {
     "id": "obj-takes",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      480.0,
      220.0,
      44.0,
      15.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      270.0,
      44.0,
      44.0,
      15.0
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Takes",
       "parameter_shortname": "Takes",
       "parameter_type": 1,
       "parameter_mmin": 1,
       "parameter_mmax": 8,
       "parameter_initial": [
        1
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-label-takes",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      530.0,
      220.0,
      40.0,
      18.0
     ],
     "text": "Takes",
     "presentation": 1,
     "presentation_rect": [
      318.0,
      42.0,
      40.0,
      18.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-prepend-takes",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      480.0,
      250.0,
      85.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend takes"
    }
   },
   {
    "box": {
     "id": "obj-temperature",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      580.0,
      220.0,
      41.0,
      48.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      360.0,
      20.0,
      41.0,
      48.0
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Temperature",
       "parameter_shortname": "Temp",
       "parameter_type": 0,
       "parameter_mmin": 0.1,
       "parameter_mmax": 2.0,
       "parameter_initial": [
        1.0
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-prepend-temperature",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      580.0,
      280.0,
      120.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend temperature"
    }
   },
   {
    "box": {
     "id": "obj-button-generate",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20.0,
      160.0,
      70.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      270.0,
      72.0,
      56.0,
      20.0
     ],
     "text": "Generate",
     "texton": "Generate",
     "mode": 0,
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Generate",
       "parameter_shortname": "Generate",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_invisible": 2
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-route-generate",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      20.0,
      190.0,
      80.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      ""
     ],
     "text": "route bang 1"
    }
   },
   {
    "box": {
     "id": "obj-trigger-generate",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20.0,
      220.0,
      40.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "bang"
     ],
     "text": "t b b"
    }
   },
   {
    "box": {
     "id": "obj-msg-generate",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      260.0,
      70.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "generate"
    }
   },
   {
    "box": {
     "id": "obj-button-continue",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      140.0,
      160.0,
      70.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      330.0,
      72.0,
      56.0,
      20.0
     ],
     "text": "Continue",
     "texton": "Continue",
     "mode": 0,
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Continue",
       "parameter_shortname": "Continue",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_invisible": 2
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-route-continue",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      140.0,
      190.0,
      80.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      ""
     ],
     "text": "route bang 1"
    }
   },
   {
    "box": {
     "id": "obj-trigger-continue",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      140.0,
      220.0,
      40.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "bang"
     ],
     "text": "t b b"
    }
   },
   {
    "box": {
     "id": "obj-msg-continue",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      140.0,
      260.0,
      70.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "continue"
    }
   },
   {
    "box": {
     "id": "obj-button-style",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      1080.0,
      160.0,
      90.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      270.0,
      96.0,
      176.0,
      16.0
     ],
     "text": "More like this",
     "texton": "More like this",
     "mode": 0,
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "More like this",
       "parameter_shortname": "Like this",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_invisible": 2
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-route-style",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      1080.0,
      190.0,
      80.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      ""
     ],
     "text": "route bang 1"
    }
   },
   {
    "box": {
     "id": "obj-trigger-style",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      1080.0,
      220.0,
      40.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "bang"
     ],
     "text": "t b b"
    }
   },
   {
    "box": {
     "id": "obj-msg-style",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      1080.0,
      260.0,
      70.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "style"
    }
   },
   {
    "box": {
     "id": "obj-button-live",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      260.0,
      160.0,
      70.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      390.0,
      72.0,
      56.0,
      20.0
     ],
     "text": "Live",
     "texton": "Live",
     "mode": 0,
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Live",
       "parameter_shortname": "Live",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_invisible": 2
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-route-live",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      260.0,
      190.0,
      80.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      ""
     ],
     "text": "route bang 1"
    }
   },
   {
    "box": {
     "id": "obj-trigger-live",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      260.0,
      220.0,
      40.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "bang"
     ],
     "text": "t b b"
    }
   },
   {
    "box": {
     "id": "obj-msg-live",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      260.0,
      260.0,
      70.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "live"
    }
   },
   {
    "box": {
     "id": "obj-progress-set",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      200.0,
      440.0,
      75.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend set"
    }
   },
   {
    "box": {
     "id": "obj-progress",
     "maxclass": "slider",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      200.0,
      480.0,
      200.0,
      12.0
     ],
     "outlettype": [
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      10.0,
      130.0,
      430.0,
      8.0
     ],
     "floatoutput": 1,
     "size": 1.0,
     "orientation": 1,
     "ignoreclick": 1,
     "parameter_enable": 0
    }
   },
   {
    "box": {
     "id": "obj-status",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20.0,
      520.0,
      420.0,
      18.0
     ],
     "text": "musicgen-bridge: waiting for the device to load",
     "presentation": 1,
     "presentation_rect": [
      10.0,
      142.0,
      430.0,
      18.0
     ]
    }
   },
   {
    "box": {
     "id": "obj-route-text",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      ""
     ],
     "patching_rect": [
      260.0,
      90.0,
      70.0,
      22.0
     ],
     "text": "route text"
    }
   },
   {
    "box": {
     "id": "obj-pattr-prompt",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      ""
     ],
     "patching_rect": [
      560.0,
      400.0,
      90.0,
      22.0
     ],
     "text": "pattr prompt",
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Prompt",
       "parameter_shortname": "Prompt",
       "parameter_type": 3,
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-prepend-restore",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      560.0,
      430.0,
      100.0,
      22.0
     ],
     "text": "prepend restore"
    }
   },
   {
    "box": {
     "id": "obj-freebang",
     "maxclass": "newobj",
     "numinlets": 0,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      120.0,
      340.0,
      60.0,
      22.0
     ],
     "text": "freebang"
    }
   },
   {
    "box": {
     "id": "obj-msg-close",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      120.0,
      366.0,
      40.0,
      22.0
     ],
     "text": "close"
    }
   },
   {
    "box": {
     "id": "obj-context-bars",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "patching_rect": [
      380.0,
      340.0,
      44.0,
      15.0
     ],
     "presentation": 1,
     "presentation_rect": [
      404.0,
      22.0,
      40.0,
      15.0
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Context bars",
       "parameter_shortname": "Context",
       "parameter_type": 1,
       "parameter_mmin": 1,
       "parameter_mmax": 64,
       "parameter_initial": [
        4
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-context-bars-label",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      380.0,
      320.0,
      50.0,
      18.0
     ],
     "presentation": 1,
     "presentation_rect": [
      402.0,
      6.0,
      46.0,
      16.0
     ],
     "text": "Context"
    }
   },
   {
    "box": {
     "id": "obj-prepend-context-bars",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      380.0,
      370.0,
      110.0,
      22.0
     ],
     "text": "prepend context_bars"
    }
   },
   {
    "box": {
     "id": "obj-ahead-bars",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "patching_rect": [
      520.0,
      340.0,
      44.0,
      15.0
     ],
     "presentation": 1,
     "presentation_rect": [
      404.0,
      54.0,
      40.0,
      15.0
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Ahead bars",
       "parameter_shortname": "Ahead",
       "parameter_type": 1,
       "parameter_mmin": 1,
       "parameter_mmax": 64,
       "parameter_initial": [
        2
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-ahead-bars-label",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      520.0,
      320.0,
      50.0,
      18.0
     ],
     "presentation": 1,
     "presentation_rect": [
      402.0,
      38.0,
      46.0,
      16.0
     ],
     "text": "Ahead"
    }
   },
   {
    "box": {
     "id": "obj-prepend-ahead-bars",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      520.0,
      370.0,
      110.0,
      22.0
     ],
     "text": "prepend ahead_bars"
    }
   },
   {
    "box": {
     "id": "obj-button-sfx",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      700.0,
      160.0,
      70.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      456.0,
      72.0,
      56.0,
      20.0
     ],
     "text": "SFX",
     "texton": "SFX",
     "mode": 0,
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Sound effect",
       "parameter_shortname": "SFX",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_invisible": 2
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-route-sfx",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      700.0,
      190.0,
      80.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      ""
     ],
     "text": "route bang 1"
    }
   },
   {
    "box": {
     "id": "obj-trigger-sfx",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      700.0,
      220.0,
      40.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "bang"
     ],
     "text": "t b b"
    }
   },
   {
    "box": {
     "id": "obj-msg-sfx",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      700.0,
      260.0,
      70.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "sfx"
    }
   },
   {
    "box": {
     "id": "obj-sfx-seconds-label",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      800.0,
      200.0,
      50.0,
      18.0
     ],
     "presentation": 1,
     "presentation_rect": [
      454.0,
      6.0,
      60.0,
      16.0
     ],
     "text": "SFX secs"
    }
   },
   {
    "box": {
     "id": "obj-sfx-seconds",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "patching_rect": [
      800.0,
      220.0,
      44.0,
      15.0
     ],
     "presentation": 1,
     "presentation_rect": [
      456.0,
      22.0,
      50.0,
      15.0
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "SFX seconds",
       "parameter_shortname": "SFX s",
       "parameter_type": 0,
       "parameter_mmin": 0.1,
       "parameter_mmax": 600.0,
       "parameter_initial": [
        2.0
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-prepend-sfx-seconds",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      800.0,
      250.0,
      120.0,
      22.0
     ],
     "text": "prepend sfx_seconds"
    }
   },
   {
    "box": {
     "id": "obj-sfx-place",
     "maxclass": "umenu",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      940.0,
      220.0,
      100.0,
      22.0
     ],
     "outlettype": [
      "int",
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      456.0,
      42.0,
      60.0,
      22.0
     ],
     "items": [
      "slots",
      ",",
      "playhead"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "SFX place",
       "parameter_shortname": "Place",
       "parameter_type": 2,
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-prepend-sfx-place",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      940.0,
      250.0,
      110.0,
      22.0
     ],
     "text": "prepend sfx_place"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-button-generate",
      0
     ],
     "destination": [
      "obj-route-generate",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-generate",
      0
     ],
     "destination": [
      "obj-trigger-generate",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-generate",
      1
     ],
     "destination": [
      "obj-trigger-generate",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-generate",
      1
     ],
     "destination": [
      "obj-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-generate",
      0
     ],
     "destination": [
      "obj-msg-generate",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg-generate",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-button-continue",
      0
     ],
     "destination": [
      "obj-route-continue",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-continue",
      0
     ],
     "destination": [
      "obj-trigger-continue",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-continue",
      1
     ],
     "destination": [
      "obj-trigger-continue",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-continue",
      1
     ],
     "destination": [
      "obj-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-continue",
      0
     ],
     "destination": [
      "obj-msg-continue",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg-continue",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-button-style",
      0
     ],
     "destination": [
      "obj-route-style",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-style",
      0
     ],
     "destination": [
      "obj-trigger-style",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-style",
      1
     ],
     "destination": [
      "obj-trigger-style",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-style",
      1
     ],
     "destination": [
      "obj-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-style",
      0
     ],
     "destination": [
      "obj-msg-style",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg-style",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-button-live",
      0
     ],
     "destination": [
      "obj-route-live",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-live",
      0
     ],
     "destination": [
      "obj-trigger-live",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-live",
      1
     ],
     "destination": [
      "obj-trigger-live",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-live",
      1
     ],
     "destination": [
      "obj-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-live",
      0
     ],
     "destination": [
      "obj-msg-live",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg-live",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-thisdevice",
      0
     ],
     "destination": [
      "obj-init",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-thisdevice",
      0
     ],
     "destination": [
      "obj-dspstate",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-init",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-dspstate",
      1
     ],
     "destination": [
      "obj-prepend-sr",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-sr",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-js",
      0
     ],
     "destination": [
      "obj-udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-js",
      1
     ],
     "destination": [
      "obj-status",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-js",
      2
     ],
     "destination": [
      "obj-progress-set",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-progress-set",
      0
     ],
     "destination": [
      "obj-progress",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-udpreceive",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-prompt",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-model",
      1
     ],
     "destination": [
      "obj-prepend-model",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-model",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-bars",
      0
     ],
     "destination": [
      "obj-prepend-bars",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-bars",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-takes",
      0
     ],
     "destination": [
      "obj-prepend-takes",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-takes",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-temperature",
      0
     ],
     "destination": [
      "obj-prepend-temperature",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-temperature",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-plugin",
      0
     ],
     "destination": [
      "obj-plugout",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-plugin",
      1
     ],
     "destination": [
      "obj-plugout",
      1
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-route-text",
      0
     ],
     "source": [
      "obj-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-udpreceive",
      0
     ],
     "source": [
      "obj-js",
      3
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-pattr-prompt",
      0
     ],
     "source": [
      "obj-js",
      4
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-prepend-restore",
      0
     ],
     "source": [
      "obj-pattr-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-js",
      0
     ],
     "source": [
      "obj-prepend-restore",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-prompt",
      0
     ],
     "source": [
      "obj-js",
      5
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-msg-close",
      0
     ],
     "source": [
      "obj-freebang",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-js",
      0
     ],
     "source": [
      "obj-msg-close",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-prepend-context-bars",
      0
     ],
     "source": [
      "obj-context-bars",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-js",
      0
     ],
     "source": [
      "obj-prepend-context-bars",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-prepend-ahead-bars",
      0
     ],
     "source": [
      "obj-ahead-bars",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-js",
      0
     ],
     "source": [
      "obj-prepend-ahead-bars",
      0
     ]
    }
   },
   {
    "patchline": {
     "destination": [
      "obj-prepend-prompt",
      0
     ],
     "source": [
      "obj-route-text",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-button-sfx",
      0
     ],
     "destination": [
      "obj-route-sfx",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-sfx",
      0
     ],
     "destination": [
      "obj-trigger-sfx",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route-sfx",
      1
     ],
     "destination": [
      "obj-trigger-sfx",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-sfx",
      1
     ],
     "destination": [
      "obj-prompt",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-trigger-sfx",
      0
     ],
     "destination": [
      "obj-msg-sfx",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg-sfx",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-sfx-seconds",
      0
     ],
     "destination": [
      "obj-prepend-sfx-seconds",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-sfx-seconds",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-sfx-place",
      1
     ],
     "destination": [
      "obj-prepend-sfx-place",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-prepend-sfx-place",
      0
     ],
     "destination": [
      "obj-js",
      0
     ]
    }
   }
  ],
  "parameters": {
   "obj-model": [
    "Model",
    "Model",
    0
   ],
   "obj-bars": [
    "Bars",
    "Bars",
    0
   ],
   "obj-takes": [
    "Takes",
    "Takes",
    0
   ],
   "obj-temperature": [
    "Temperature",
    "Temp",
    0
   ],
   "obj-button-generate": [
    "Generate",
    "Generate",
    0
   ],
   "obj-button-continue": [
    "Continue",
    "Continue",
    0
   ],
   "obj-button-style": [
    "More like this",
    "Like this",
    0
   ],
   "obj-button-live": [
    "Live",
    "Live",
    0
   ],
   "obj-button-sfx": [
    "Sound effect",
    "SFX",
    0
   ],
   "obj-sfx-seconds": [
    "SFX seconds",
    "SFX s",
    0
   ],
   "obj-sfx-place": [
    "SFX place",
    "Place",
    0
   ],
   "obj-pattr-prompt": [
    "Prompt",
    "Prompt",
    0
   ],
   "obj-context-bars": [
    "Context bars",
    "Context",
    0
   ],
   "obj-ahead-bars": [
    "Ahead bars",
    "Ahead",
    0
   ],
   "inherited_shortname": 1
  },
  "dependency_cache": [
   {
    "name": "mgb_device.js",
    "bootpath": ".",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mgb_core.js",
    "bootpath": ".",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mgb_live.js",
    "bootpath": ".",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mgb_link.js",
    "bootpath": ".",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mgb_place.js",
    "bootpath": ".",
    "type": "TEXT",
    "implicit": 1
   }
  ],
  "latency": 0,
  "is_mpe": 0,
  "minimum_live_version": "",
  "minimum_max_version": "",
  "platform_compatibility": 0,
  "project": {
   "version": 1,
   "creationdate": 3850070400,
   "modificationdate": 3850070400,
   "viewrect": [
    0.0,
    0.0,
    300.0,
    500.0
   ],
   "autoorganize": 1,
   "hideprojectwindow": 1,
   "showdependencies": 1,
   "autolocalize": 0,
   "contents": {
    "patchers": {},
    "code": {}
   },
   "layout": {},
   "searchpath": {},
   "detailsvisible": 0,
   "amxdtype": 1633771873,
   "readonly": 0,
   "devpathtype": 0,
   "devpath": ".",
   "sortmode": 0,
   "viewmode": 0,
   "includepackages": 0
  },
  "autosave": 0
 }
}
