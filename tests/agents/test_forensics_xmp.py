"""XMP packets: creator tool, dates (onto the timeline), document ids and authors."""

from apps.agents.forensics.xmp import xmp_metadata
from tests.agents import fixtures_files as ff

PACKET = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmp:CreatorTool="Adobe Photoshop 25.0"
 xmp:CreateDate="2024-03-05T10:11:12+01:00" xmpMM:DocumentID="xmp.did:1234">
<dc:creator><rdf:Seq><rdf:li>Jane Analyst</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def test_xmp_fields_and_timestamps_from_an_image():
    jpeg = ff.jpeg_with_gps()
    meta = xmp_metadata(jpeg[:-2] + PACKET + jpeg[-2:])
    assert meta["creator_tool"] == "Adobe Photoshop 25.0"
    assert meta["document_id"] == "xmp.did:1234"
    assert meta["authors"] == ["Jane Analyst"]
    assert meta["timestamps"] == [{"value": "2024-03-05T09:11:12Z", "event": "XMP created"}]


def test_no_packet_and_a_cut_packet():
    assert xmp_metadata(ff.png_plain()) is None
    assert "not closed" in xmp_metadata(PACKET[:200])["error"]
