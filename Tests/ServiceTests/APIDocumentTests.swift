import Foundation
import Service
import TestSupport
import Testing

/// openapi.json is the API's one description: every documented operation is served, every status
/// a route answers is one the document lists for it, and every JSON body matches its schema.
extension ServiceTests {
    @Test func everyResponseConformsToTheOpenAPIDocument() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: APIDocument.json) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let validator = JSONSchemaValidator(document: document)
        var exercised: Set<String> = []

        try withService { running in
            let client = try running.client()
            /// Sends one request and checks its response against the document.
            @discardableResult
            func call(_ method: String, _ target: String, body: [UInt8] = []) throws -> (status: Int, headers: [String: String], body: String) {
                client.send("\(method) \(target) HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n")
                client.send(body)
                let response = try #require(client.response())
                let template = try #require(APIDocument.route(matching: String(target.prefix { $0 != "?" }))).template
                guard let operation = paths[template]?[method.lowercased()] as? [String: Any] else {
                    #expect(response.status == 405, "\(method) \(target) is not documented, so it must be refused")
                    #expect(validator.problems(try JSONSerialization.jsonObject(with: Data(response.body.utf8)), against: validator.resolve("#/components/schemas/Error")) == [])
                    return response
                }
                exercised.insert("\(method) \(template)")
                guard var answer = (operation["responses"] as? [String: Any])?["\(response.status)"] as? [String: Any] else {
                    Issue.record("\(method) \(target) answered \(response.status), which openapi.json does not list")
                    return response
                }
                if let reference = answer["$ref"] as? String { answer = validator.resolve(reference) }
                let type = String((response.headers["content-type"] ?? "").prefix { $0 != ";" })
                guard let content = answer["content"] as? [String: Any] else {
                    #expect(response.body.isEmpty, "\(method) \(target): \(response.status) documents no body")
                    return response
                }
                let media = try #require(content[type] as? [String: Any], "\(method) \(target): \(type) is not documented")
                if type == "application/json", let schema = media["schema"] as? [String: Any] {
                    let value = try JSONSerialization.jsonObject(with: Data(response.body.utf8), options: .fragmentsAllowed)
                    #expect(validator.problems(value, against: schema) == [], "\(method) \(target) → \(response.status)")
                }
                return response
            }

            #expect(try call("GET", "/healthz").status == 200)
            #expect(try call("GET", "/readyz").status == 200)
            #expect(try call("GET", "/metrics").status == 200)
            #expect(try call("GET", "/openapi.json").body == String(decoding: APIDocument.json, as: UTF8.self))

            client.send("POST /v1/jobs HTTP/1.1\r\n\r\n")
            #expect(client.response()?.status == 411)
            let accepted = try call("POST", "/v1/jobs?case_id=conformance", body: [UInt8](Data(contentsOf: SharedData.pancreasSlice)))
            #expect(accepted.status == 202)
            let location = try #require(accepted.headers["location"])
            var status = ""
            for _ in 0..<600 where status != "succeeded" {
                status = json(try call("GET", location).body)["status"] as? String ?? ""
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(status == "succeeded")
            #expect(try call("GET", "/v1/jobs?limit=1").status == 200)
            #expect(try call("GET", "/v1/jobs?limit=0").status == 400)
            #expect(try call("GET", "\(location)/mask").status == 200)
            #expect(try call("GET", "\(location)/overlay.png?slice=0").status == 200)
            #expect(try call("GET", "\(location)/overlay.png?slice=1").status == 400)
            #expect(try call("GET", "\(location)/view").status == 200)
            #expect(try call("GET", "\(location)/view/ct").headers["content-encoding"] == "gzip")
            #expect(try call("GET", "\(location)/view/reference").status == 404)
            #expect(try call("GET", "\(location)/mask?format=dicom-seg").status == 406)
            let id = String(location.split(separator: "/").last!)
            let ownMask = try [UInt8](Data(contentsOf: scratch.url.appendingPathComponent("data/jobs/\(id)/mask.nii.gz")))
            #expect(try call("PUT", "\(location)/reference", body: ownMask).status == 200)
            #expect(try call("GET", "\(location)/view/reference").status == 200)
            #expect(try call("GET", "/v1/metrics/summary").status == 200)
            #expect(try call("GET", "/v1/models").status == 200)
            #expect(try call("DELETE", location).status == 204)
            #expect(try call("GET", location).status == 404)
            #expect(try call("GET", "\(location)/overlay.png").status == 404)
            let refused = try call("DELETE", "/healthz")
            #expect(refused.status == 405)
            #expect(refused.headers["allow"] == "GET")
        }

        let documented = paths.flatMap { template, item in
            ["get", "put", "post", "delete"].filter { item[$0] != nil }.map { "\($0.uppercased()) \(template)" }
        }
        #expect(Set(documented).subtracting(exercised) == [], "documented operations the test did not reach")
    }
}
