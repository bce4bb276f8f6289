// Usage:
//   LoadGen key KEY.pem PUBLIC.pem
//       creates (or loads) the governance signing key and writes its public PEM.
//   LoadGen mint KEY.pem OUT.tsv COUNT TENANT ACTION PATH BODY NONCE_PREFIX
//       writes COUNT lines "nonce<TAB>OpenExec-Approval header", each with a distinct nonce and
//       a distinct approval (its own approval_id) for POST PATH with the JSON BODY.
using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

if (args.Length >= 3 && args[0] == "key")
{
    using var key = ReceiptSigningKey.LoadOrCreate(args[1]);
    File.WriteAllText(args[2], key.ExportPublicPem());
    return 0;
}
if (args.Length == 9 && args[0] == "mint")
{
    using var key = ReceiptSigningKey.LoadOrCreate(args[1]);
    var count = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
    var (tenant, action, path, body, prefix) = (args[4], args[5], args[6], args[7], args[8]);
    var payload = ProxiedRequestPayload.Create("POST", path, "", StrictJson.Parse(Encoding.UTF8.GetBytes(body)));
    var actionHash = ActionHash.Compute(action, payload);
    var minter = new ApprovalMinter(key);
    var issued = DateTimeOffset.UtcNow.AddSeconds(-5);
    var expires = issued.AddHours(1);
    var lines = new string[count];
    Parallel.For(0, count, i =>
    {
        var approval = minter.Mint(tenant, actionHash, issued, expires);
        lines[i] = $"{prefix}-{i}\t{approval.ToHeader()}";
    });
    File.WriteAllLines(args[2], lines);
    return 0;
}
Console.Error.WriteLine("usage: LoadGen key KEY.pem PUBLIC.pem | LoadGen mint KEY.pem OUT.tsv COUNT TENANT ACTION PATH BODY NONCE_PREFIX");
return 2;
