/*
  AMAS built-in YARA rules.
  Source: written for AMAS (issue 14); no third-party rule text is included, so they carry the
  project's own licence. No offline rule collection with a licence compatible with shipping it
  inside AMAS was available on the build machine, hence our own small set.
  Each rule looks for a combination an analyst would call suspicious on its own, never a single
  common string, so that ordinary software (launchers, wheels, documentation) does not match.
*/

rule pdf_javascript_on_open
{
    meta:
        description = "PDF that runs JavaScript on opening (open action, additional actions or document-level scripts)"
        severity = "suspicious"
    strings:
        $open1 = "/OpenAction"
        $open2 = "/AA"
        $open3 = /\/Names\s*<<\s*\/JavaScript/
        $js = "/JS"
    condition:
        uint32(0) == 0x46445025 and $js and any of ($open*)
}

rule pdf_launch_action
{
    meta:
        description = "PDF with a Launch action (starts a program)"
        severity = "suspicious"
    strings:
        $launch = "/Launch"
    condition:
        uint32(0) == 0x46445025 and $launch
}

rule office_vba_autoexec_shell
{
    meta:
        description = "VBA macro that runs on open and starts a process or object"
        severity = "suspicious"
    strings:
        $auto1 = "AutoOpen" nocase
        $auto2 = "Document_Open" nocase
        $auto3 = "Workbook_Open" nocase
        $exec1 = "Shell" nocase
        $exec2 = "CreateObject" nocase
        $exec3 = "WScript" nocase
    condition:
        any of ($auto*) and any of ($exec*)
}

rule pe_process_injection_imports
{
    meta:
        description = "PE importing the classic remote-thread injection triplet"
        severity = "suspicious"
    strings:
        $a = "VirtualAllocEx"
        $b = "WriteProcessMemory"
        $c = "CreateRemoteThread"
    condition:
        uint16(0) == 0x5A4D and all of them
}

rule pe_upx_packed
{
    meta:
        description = "PE packed with UPX (section names UPX0 and UPX1)"
        severity = "info"
    strings:
        $s0 = "UPX0"
        $s1 = "UPX1"
    condition:
        uint16(0) == 0x5A4D and all of them
}

rule powershell_download_cradle
{
    meta:
        description = "PowerShell that downloads and runs code (encoded command or web client)"
        severity = "suspicious"
    strings:
        $ps = "powershell" nocase
        $dl1 = "DownloadString" nocase
        $dl2 = "Net.WebClient" nocase
        $dl3 = "Invoke-WebRequest" nocase
        $run1 = "IEX" nocase fullword
        $run2 = "Invoke-Expression" nocase
        $run3 = "-enc" nocase fullword
        $run4 = "FromBase64String" nocase
    condition:
        $ps and any of ($dl*) and any of ($run*)
}
