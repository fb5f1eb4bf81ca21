-- Orthanc: when a CT series is stable, send it to kidneyseg through the PACS bridge
-- (Deploy/pacs-bridge.sh, installed as /usr/local/bin/kidneyseg-pacs-bridge by
-- `Deploy/install.sh --service`), which stores the DICOM SEG it gets back into the same study
-- through this Orthanc's REST API.
--
-- The series goes as the zip of its DICOM files that Orthanc's /series/{id}/archive gives; no
-- plugin is needed. In orthanc.json: "LuaScripts": ["/etc/orthanc/kidneyseg.lua"],
-- "StableAge": 60. Orthanc's environment configures it:
--   KIDNEYSEG_URL, KIDNEYSEG_TOKEN  the service, as for the bridge
--   KIDNEYSEG_ORTHANC_URL           this Orthanc's REST API (default http://127.0.0.1:8042),
--   KIDNEYSEG_ORTHANC_AUTH          with user:password if it asks for one
--   KIDNEYSEG_BRIDGE                the bridge (default /usr/local/bin/kidneyseg-pacs-bridge)
--   KIDNEYSEG_BRIDGE_RESULTS        where results and bridge.log land
--                                   (default /var/lib/kidneyseg-bridge): <series id>/mask.nii.gz,
--                                   mask.seg.dcm and summary.json

local bridge = os.getenv('KIDNEYSEG_BRIDGE') or '/usr/local/bin/kidneyseg-pacs-bridge'
local results = (os.getenv('KIDNEYSEG_BRIDGE_RESULTS') or '/var/lib/kidneyseg-bridge') .. '/'
local orthanc = os.getenv('KIDNEYSEG_ORTHANC_URL') or 'http://127.0.0.1:8042'

-- Only characters that need no quoting in a shell command.
local function plain(text)
   return (string.gsub(text, '[^%w%.%-_:/]', ''))
end

function OnStableSeries(seriesId, tags, metadata)
   -- The SEG that comes back is a series of its own (Modality SEG): it is not sent again.
   if tags['Modality'] ~= 'CT' then
      return
   end
   local archive = RestApiGet('/series/' .. seriesId .. '/archive')
   local study = os.tmpname() .. '.zip'
   local file = assert(io.open(study, 'wb'))
   file:write(archive)
   file:close()
   -- The bridge polls until the segmentation is done, so it runs in the background; its
   -- Idempotency-Key makes a repeated stable event harmless.
   local caseId = plain(tags['SeriesInstanceUID'] or seriesId)
   local id = plain(seriesId)
   os.execute(string.format(
      "(mkdir -p '%s' && KIDNEYSEG_CASE_ID='%s' KIDNEYSEG_ORTHANC_URL='%s' '%s' '%s' '%s%s' >>'%sbridge.log' 2>&1; rm -f '%s') &",
      results, caseId, plain(orthanc), bridge, study, results, id, results, study))
   print('kidneyseg: sent CT series ' .. seriesId)
end
