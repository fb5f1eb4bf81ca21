-- Orthanc: when a CT series is stable, send it to kidneyseg through the PACS bridge
-- (Deploy/pacs-bridge.sh, installed as /usr/local/bin/kidneyseg-pacs-bridge by
-- `Deploy/install.sh --service`).
--
-- The series goes as the zip of its DICOM files that Orthanc's /series/{id}/archive gives; no
-- plugin is needed. In orthanc.json: "LuaScripts": ["/etc/orthanc/kidneyseg.lua"],
-- "StableAge": 60. Set KIDNEYSEG_URL (and KIDNEYSEG_TOKEN) in Orthanc's environment; results
-- land in /var/lib/kidneyseg-bridge/<series id>/ (mask.nii.gz and summary.json).

local bridge = '/usr/local/bin/kidneyseg-pacs-bridge'
local results = '/var/lib/kidneyseg-bridge/'

function OnStableSeries(seriesId, tags, metadata)
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
   local caseId = tags['SeriesInstanceUID'] or seriesId
   os.execute(string.format("(KIDNEYSEG_CASE_ID='%s' %s '%s' '%s%s' >>%sbridge.log 2>&1; rm -f '%s') &",
      caseId, bridge, study, results, seriesId, results, study))
   print('kidneyseg: sent CT series ' .. seriesId)
end
