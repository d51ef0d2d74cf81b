// An lwm2m-node-lib client: registers with HOST:PORT as ENDPOINT with /3/0 (manufacturer
// "node-maker"), prints REGISTERED <location>, de-registers when stdin closes.
'use strict';
var client = require('lwm2m-node-lib').client;
var host = process.argv[2], port = process.argv[3], ep = process.argv[4];
client.init({client: {
    lifetime: '60', version: '1.0', logLevel: 'FATAL', observe: {period: 3000},
    ipProtocol: 'udp4', serverProtocol: 'udp4',
    formats: [{name: 'lightweightm2m/text', value: 1541}], writeFormat: 'lightweightm2m/text'
}});
function fail(what, err) { console.log('ERROR ' + what + ' ' + err); process.exit(1); }
client.registry.create('/3/0', function (err) {
    if (err) { fail('create', err); }
    client.registry.setResource('/3/0', '0', 'node-maker', function (err) {
        if (err) { fail('setResource', err); }
        client.register(host, port, null, ep, function (err, info) {
            if (err) { fail('register', err); }
            console.log('REGISTERED ' + info.location);
            process.stdin.resume();
            process.stdin.on('end', function () {
                client.unregister(info, function (err) {
                    console.log(err ? 'ERROR unregister ' + err : 'UNREGISTERED');
                    process.exit(err ? 1 : 0);
                });
            });
        });
    });
});
