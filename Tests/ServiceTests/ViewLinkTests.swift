import Foundation
import TestSupport
import Testing

/// With tokens on, a browser opens a job's page through its signed, expiring link: the page,
/// its JSON, layers, overlays and mask, and nothing else; never another job's.
extension ServiceTests {
    @Test func opensAJobsPageThroughItsSignedLink() throws {
        try withService(tokens: ["scripts-token"]) { running in
            let client = try running.client()
            let auth = "Authorization: Bearer scripts-token\r\n"
            let location = try #require(try post(client, SharedData.pancreasSlice, headers: auth)?.headers["location"])
            let other = try #require(try post(client, SharedData.pancreasSlice, headers: auth + "Idempotency-Key: other\r\n")?.headers["location"])
            var job: [String: Any] = [:]
            for _ in 0..<300 where job["status"] as? String != "succeeded" {
                client.send("GET \(location) HTTP/1.1\r\n\(auth)\r\n")
                job = json(client.response()?.body ?? "")
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(job["status"] as? String == "succeeded")
            let link = try #require((job["links"] as? [String: String])?["view_signed"])
            #expect(link.hasPrefix("\(location)/view?expires="))
            let query = String(link.split(separator: "?")[1])

            let browser = try running.client()
            browser.send("GET \(link) HTTP/1.1\r\n\r\n")
            let page = try #require(browser.response())
            #expect(page.status == 200)
            #expect(page.body.contains("view/ct?\(query)"))  // the page loads its layers with the same signature
            browser.send("GET \(location)/view/ct?\(query) HTTP/1.1\r\n\r\n")
            #expect(browser.response()?.headers["content-encoding"] == "gzip")
            browser.send("GET \(location)?\(query) HTTP/1.1\r\n\r\n")  // the job's JSON, a download of the page
            #expect(browser.response()?.status == 200)
            browser.send("GET \(location)/overlay.png?slice=0&\(query) HTTP/1.1\r\n\r\n")
            #expect(browser.response()?.headers["content-type"] == "image/png")
            browser.send("GET \(location)/mask?\(query) HTTP/1.1\r\n\r\n")
            #expect(browser.response()?.status == 200)

            let expires = Int(Date().timeIntervalSince1970) - 10
            let expired = "expires=\(expires)&signature=\(running.service.links.signature(for: String(location.split(separator: "/").last!), expires: expires))"
            var tampered = query
            tampered.replaceSubrange(tampered.index(before: tampered.endIndex)..., with: query.hasSuffix("0") ? "1" : "0")
            for (target, reason) in [("\(other)/view?\(query)", "does not match this job"), ("\(location)/view?\(tampered)", "does not match this job"),
                                     ("\(location)/view?\(expired)", "has expired"), ("\(location)/view", "signed link"),
                                     ("\(other)?\(query)", "does not match this job"), ("/v1/jobs?\(query)", "Bearer")] {
                browser.send("GET \(target) HTTP/1.1\r\n\r\n")
                let refused = try #require(browser.response())
                #expect(refused.status == 401, "\(target)")
                #expect(refused.body.contains(reason), "\(target): \(refused.body)")
            }
            browser.send("DELETE \(location)?\(query) HTTP/1.1\r\n\r\n")
            #expect(browser.response()?.status == 401)
        }
    }
}
